"""Managing stored jobs: listing, cancel, retry, reschedule, delete, and events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from monque import (
    Event,
    InvalidJobStateError,
    Job,
    JobCancelled,
    JobDeleted,
    JobFilter,
    JobNotFoundError,
    JobRescheduled,
    JobRetried,
    JobStatus,
    Monque,
)

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]
Database = AsyncDatabase[dict[str, Any]]

UTC = dt.timezone.utc


async def _set_status(database: Database, job: Job, status: str) -> None:
    await database["monque_jobs"].update_one(
        {"_id": ObjectId(job.id)}, {"$set": {"status": status, "failCount": 3}}
    )


async def test_get_jobs_filters_by_name_status_and_time(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()
    await monque.initialize()
    now = dt.datetime.now(UTC)
    soon = await monque.enqueue("email", {"n": 1}, delay=60)
    later = await monque.enqueue("email", {"n": 2}, delay=3600)
    other = await monque.enqueue("sms", {"n": 3})
    failed = await monque.enqueue("email", {"n": 4})
    await _set_status(database, failed, "failed")

    by_name = await monque.get_jobs(name="email")
    assert [job.id for job in by_name.jobs] == [soon.id, later.id, failed.id]
    assert by_name.next_cursor is None

    pending = await monque.get_jobs(status="pending")
    assert {job.id for job in pending.jobs} == {soon.id, later.id, other.id}

    either = await monque.get_jobs(status=[JobStatus.FAILED, "pending"], name="sms")
    assert [job.id for job in either.jobs] == [other.id]

    due_within_an_hour = await monque.get_jobs(
        name="email",
        status="pending",
        next_run_after=now,
        next_run_before=now + dt.timedelta(minutes=30),
    )
    assert [job.id for job in due_within_an_hour.jobs] == [soon.id]

    created = await monque.get_jobs(created_after=now - dt.timedelta(minutes=1))
    assert len(created.jobs) == 4
    assert (await monque.get_jobs(created_before=now - dt.timedelta(days=1))).jobs == []

    newest = await monque.get_jobs(newest_first=True, limit=2)
    assert [job.id for job in newest.jobs] == [failed.id, other.id]


async def test_pages_neither_skip_nor_repeat_while_jobs_are_added(
    make_monque: MakeMonque,
) -> None:
    monque = make_monque()
    await monque.initialize()
    original = await monque.enqueue_many("email", [{"n": n} for n in range(25)])

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await monque.get_jobs(name="email", limit=7, cursor=cursor)
        seen.extend(job.id for job in page.jobs)
        pages += 1
        # Jobs keep arriving and changing while the listing runs.
        await monque.enqueue_many("email", [{"late": pages}] * 3)
        await monque.cancel_job(original[pages].id)
        if page.next_cursor is None:
            break

        cursor = page.next_cursor

    assert len(seen) == len(set(seen))
    assert {job.id for job in original} <= set(seen)
    assert pages < 20


async def test_pages_in_newest_first_order(make_monque: MakeMonque) -> None:
    monque = make_monque()
    await monque.initialize()
    jobs = await monque.enqueue_many("email", list(range(5)))

    first = await monque.get_jobs(limit=3, newest_first=True)
    assert first.next_cursor is not None
    second = await monque.get_jobs(limit=3, newest_first=True, cursor=first.next_cursor)

    ids = [job.id for job in first.jobs + second.jobs]
    assert ids == [job.id for job in reversed(jobs)]
    assert second.next_cursor is None

    with pytest.raises(ValueError, match="other order"):
        await monque.get_jobs(cursor=first.next_cursor)


async def test_cancel_a_pending_job(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()
    events: list[Event] = []
    monque.on(Event, events.append)
    await monque.initialize()
    job = await monque.enqueue("email", delay=60)

    cancelled = await monque.cancel_job(job.id)

    assert cancelled.status is JobStatus.CANCELLED
    assert isinstance(events[-1], JobCancelled)
    assert events[-1].job.id == job.id
    with pytest.raises(InvalidJobStateError) as caught:
        await monque.cancel_job(job.id)

    assert caught.value.job_id == job.id
    assert caught.value.status == "cancelled"
    assert caught.value.action == "cancel"
    assert job.id in str(caught.value)


async def test_cancel_a_processing_job_clears_its_lease(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()
    started = anyio.Event()
    release = anyio.Event()
    notified: list[str] = []

    @monque.job("slow")
    async def slow(job: Job) -> None:
        started.set()
        await release.wait()

    monque._job_cancelled = notified.append  # type: ignore[method-assign, assignment]
    await monque.initialize()
    job = await monque.enqueue("slow")
    async with monque:
        with anyio.fail_after(10):
            await started.wait()

        cancelled = await monque.cancel_job(job.id)
        release.set()

    assert notified == [job.id]
    assert cancelled.status is JobStatus.CANCELLED
    raw = await database["monque_jobs"].find_one({"_id": ObjectId(job.id)})
    assert raw is not None
    assert raw["status"] == "cancelled"
    for lease_field in ("lockedAt", "claimedBy", "claimToken", "lastHeartbeat"):
        assert lease_field not in raw


async def test_retry_failed_and_cancelled_jobs(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()
    retried: list[JobRetried] = []
    monque.on(JobRetried, retried.append)
    await monque.initialize()
    failed = await monque.enqueue("email", delay=600)
    await _set_status(database, failed, "failed")
    cancelled = await monque.enqueue("email", delay=600)
    await monque.cancel_job(cancelled.id)

    again = await monque.retry_job(failed.id)

    assert again.status is JobStatus.PENDING
    assert again.fail_count == 0
    assert again.fail_reason is None
    assert again.next_run_at <= dt.datetime.now(UTC)
    assert (await monque.retry_job(cancelled.id)).status is JobStatus.PENDING
    assert [event.job.id for event in retried] == [failed.id, cancelled.id]
    with pytest.raises(InvalidJobStateError, match="pending"):
        await monque.retry_job(failed.id)


async def test_reschedule_a_pending_job(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()
    moved: list[JobRescheduled] = []
    monque.on(JobRescheduled, moved.append)
    await monque.initialize()
    job = await monque.enqueue("email")
    tomorrow = dt.datetime.now(UTC) + dt.timedelta(days=1)

    rescheduled = await monque.reschedule_job(job.id, run_at=tomorrow)

    assert abs(rescheduled.next_run_at - tomorrow) < dt.timedelta(milliseconds=1)
    assert [event.job.id for event in moved] == [job.id]
    soon = await monque.reschedule_job(job.id, delay=5)
    assert soon.next_run_at < tomorrow

    await _set_status(database, job, "completed")
    with pytest.raises(InvalidJobStateError, match="'completed'"):
        await monque.reschedule_job(job.id, delay=1)


async def test_delete_jobs(make_monque: MakeMonque, database: Database) -> None:
    monque = make_monque()
    deleted: list[JobDeleted] = []
    monque.on(JobDeleted, deleted.append)
    await monque.initialize()
    job = await monque.enqueue("email", {"keep": False})
    processing = await monque.enqueue("email")
    await _set_status(database, processing, "processing")

    last = await monque.delete_job(job.id)

    assert last.data == {"keep": False}
    assert await monque.get_job(job.id) is None
    assert [event.job.id for event in deleted] == [job.id]
    with pytest.raises(JobNotFoundError, match=job.id):
        await monque.delete_job(job.id)

    with pytest.raises(InvalidJobStateError, match="cancel it first"):
        await monque.delete_job(processing.id)


async def test_bulk_actions_by_ids_and_by_filter(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()
    cancelled: list[JobCancelled] = []
    monque.on(JobCancelled, cancelled.append)
    await monque.initialize()
    emails = await monque.enqueue_many("email", list(range(4)), delay=600)
    sms = await monque.enqueue_many("sms", list(range(2)), delay=600)

    assert await monque.cancel_jobs([emails[0].id, ObjectId(emails[1].id)]) == 2
    # Already cancelled jobs are skipped, not counted.
    assert await monque.cancel_jobs(JobFilter(name="email")) == 2
    assert len(cancelled) == 4
    assert await monque.retry_jobs(JobFilter(name="email", status="cancelled")) == 4
    assert await monque.delete_jobs(JobFilter(name="sms")) == 2
    assert await monque.delete_jobs([sms[0].id]) == 0

    stats = await monque.get_queue_stats()
    assert stats.pending == 4
    assert stats.total == 4


async def test_unknown_ids_and_bad_ids(make_monque: MakeMonque) -> None:
    monque = make_monque()
    await monque.initialize()
    missing = str(ObjectId())

    for action in (monque.cancel_job, monque.retry_job, monque.delete_job):
        with pytest.raises(JobNotFoundError, match=missing):
            await action(missing)

    with pytest.raises(JobNotFoundError):
        await monque.reschedule_job(missing, delay=1)

    with pytest.raises(ValueError, match="not a valid job id"):
        await monque.cancel_job("nope")

    with pytest.raises(TypeError):
        await monque.cancel_job({"$ne": None})  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="not a valid job id"):
        await monque.cancel_jobs([missing, "nope"])

    with pytest.raises(TypeError, match="list of job ids"):
        await monque.cancel_jobs(missing)
