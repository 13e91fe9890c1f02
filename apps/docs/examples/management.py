"""Managing jobs: listing with cursors, cancel, retry, reschedule, delete, stats.

Run it against a replica set: ``MONGODB_URI=mongodb://... python management.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from monque import InvalidJobStateError, JobFilter, JobStatus, Monque


async def main(db: AsyncDatabase[dict[str, Any]]) -> None:
    monque = Monque(db, completed_retention=7 * 86400, failed_retention=30 * 86400)
    await monque.initialize()
    await monque.enqueue_many("email.send", [{"n": n} for n in range(25)], delay=3600)
    job = await monque.enqueue("report.build", {"report": "daily"}, delay=3600)

    # --8<-- [start:list]
    cursor: str | None = None
    seen = 0
    while True:
        page = await monque.get_jobs(
            name="email.send", status=["pending", "processing"], limit=10, cursor=cursor
        )
        seen += len(page.jobs)
        if page.next_cursor is None:
            break

        cursor = page.next_cursor

    print(f"{seen} email jobs are waiting or running")
    # --8<-- [end:list]
    assert seen == 25

    # --8<-- [start:filters]
    an_hour = dt.timedelta(hours=1)
    now = dt.datetime.now(dt.timezone.utc)
    due_soon = await monque.get_jobs(
        status=JobStatus.PENDING,
        next_run_after=now,
        next_run_before=now + 2 * an_hour,
        newest_first=True,
        limit=5,
    )
    print([j.name for j in due_soon.jobs])
    # --8<-- [end:filters]
    assert len(due_soon.jobs) == 5

    # --8<-- [start:actions]
    moved = await monque.reschedule_job(job.id, delay=60)
    print(f"Now due at {moved.next_run_at}")

    cancelled = await monque.cancel_job(job.id)
    assert cancelled.status is JobStatus.CANCELLED

    try:
        await monque.cancel_job(job.id)
    except InvalidJobStateError as exc:
        print(exc)  # cannot cancel job ...: its status is 'cancelled'

    retried = await monque.retry_job(job.id)  # back to pending, due now
    assert retried.fail_count == 0

    await monque.delete_job(job.id)
    # --8<-- [end:actions]

    # --8<-- [start:bulk]
    count = await monque.cancel_jobs(JobFilter(name="email.send", status="pending"))
    print(f"Cancelled {count} jobs")
    await monque.delete_jobs(JobFilter(name="email.send", status="cancelled"))
    # --8<-- [end:bulk]
    assert count == 25

    # --8<-- [start:stats]
    stats = await monque.get_queue_stats()
    print(stats.pending, stats.processing, stats.failed, stats.total)
    print(stats.counts[JobStatus.COMPLETED], stats.average_processing_time)
    emails = await monque.get_queue_stats(name="email.send")
    # --8<-- [end:stats]
    assert emails.total == 0

    # --8<-- [start:purge]
    # A running instance purges by itself every cleanup_interval seconds;
    # purge() does it now, with the configured or with explicit ages.
    result = await monque.purge()
    print(f"Removed {result.completed} completed and {result.failed} failed jobs")
    await monque.purge(failed_older_than=86400)
    # --8<-- [end:purge]


if __name__ == "__main__":

    async def run() -> None:
        uri = os.environ.get("MONGODB_URI", "mongodb://localhost:27017")
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        async with client:
            await main(client["monque_examples"])

    asyncio.run(run())
