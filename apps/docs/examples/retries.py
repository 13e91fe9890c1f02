"""Retries: backoff with jitter, per-handler and per-job limits, and handler control.

Run it against a replica set: ``MONGODB_URI=mongodb://... python retries.py``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import anyio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from monque import (
    Job,
    JobCompleted,
    JobFailed,
    JobStatus,
    Monque,
    NonRetryableError,
    RetryAfter,
    retry_delay,
)


class RateLimited(Exception):
    pass


async def main(db: AsyncDatabase[dict[str, Any]]) -> None:
    # --8<-- [start:options]
    monque = Monque(
        db,
        max_retries=5,  # failed attempts before a job fails for good
        base_retry_interval=0.05,  # seconds before the first retry
        max_backoff=3600.0,  # the longest pause between two attempts
        poll_interval=0.1,
    )
    # --8<-- [end:options]

    # --8<-- [start:handlers]
    attempts: list[int] = []

    @monque.job("payment.capture", max_retries=2)
    async def capture(job: Job) -> None:
        attempts.append(job.fail_count)
        if job.data.get("card") == "expired":
            # No retry would help: fail at once.
            raise NonRetryableError("the card has expired")

        if job.fail_count == 0:
            # The provider said when to come back.
            raise RetryAfter(0.1, "provider rate limit")

        if job.fail_count < 2:
            raise RateLimited("try again")  # retried with backoff

    # --8<-- [end:handlers]

    # --8<-- [start:events]
    finished = anyio.Event()
    failures: list[JobFailed] = []

    def on_failed(event: JobFailed) -> None:
        failures.append(event)
        retry = f"retry at {event.next_run_at}" if event.will_retry else "for good"
        print(f"Job {event.job.id} failed ({event.error}); {retry}")
        if not event.will_retry:
            finished.set()

    monque.on(JobFailed, on_failed)
    # --8<-- [end:events]

    await monque.initialize()
    expired = await monque.enqueue("payment.capture", {"card": "expired"})
    # This job overrides the handler's limit.
    flaky = await monque.enqueue("payment.capture", {"card": "ok"}, max_retries=4)
    captured = anyio.Event()
    monque.on(JobCompleted, lambda event: captured.set())

    async with monque:
        with anyio.fail_after(15):
            await finished.wait()
            await captured.wait()

    stored = await monque.get_job(expired.id)
    assert stored is not None
    assert stored.status is JobStatus.FAILED
    assert stored.fail_reason is not None
    assert "expired" in stored.fail_reason
    done = await monque.get_job(flaky.id)
    assert done is not None
    assert done.status is JobStatus.COMPLETED

    # --8<-- [start:backoff]
    # The pause after the n-th failure: doubling from the base, capped, and
    # drawn from the upper half of that value so that retries spread out.
    for fail_count in (1, 2, 3, 10):
        pause = retry_delay(fail_count, base=1.0, cap=60.0)
        print(f"after failure {fail_count}: {pause:.1f} s")
        assert min(2.0 ** (fail_count - 1), 60.0) / 2 <= pause <= 60.0
    # --8<-- [end:backoff]


if __name__ == "__main__":

    async def run() -> None:
        uri = os.environ.get("MONGODB_URI", "mongodb://localhost:27017")
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        async with client:
            await main(client["monque_examples"])

    asyncio.run(run())
