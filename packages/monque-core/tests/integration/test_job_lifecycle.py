"""A job's life: enqueue, claim, complete; fail, retry, and fail for good."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from monque import (
    Job,
    JobCompleted,
    JobFailed,
    JobStatus,
    Monque,
    NotInitializedError,
)

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]


async def test_enqueued_job_is_claimed_and_completed(
    make_monque: MakeMonque, database: AsyncDatabase[dict[str, Any]]
) -> None:
    monque = make_monque()
    seen: list[Job] = []
    done = anyio.Event()

    @monque.job("email.send")
    async def send(job: Job) -> None:
        seen.append(job)

    monque.on(JobCompleted, lambda event: done.set())
    await monque.initialize()
    job = await monque.enqueue("email.send", {"to": "a@example.com"})

    assert job.status is JobStatus.PENDING
    assert job.fail_count == 0
    assert job.created_at.tzinfo is not None
    stored = await monque.get_job(job.id)
    assert stored is not None
    assert stored.data == {"to": "a@example.com"}

    async with monque:
        with anyio.fail_after(10):
            await done.wait()

    assert [j.id for j in seen] == [job.id]
    assert seen[0].status is JobStatus.PROCESSING
    assert seen[0].claimed_by == monque.instance_id
    finished = await monque.get_job(job.id)
    assert finished is not None
    assert finished.status is JobStatus.COMPLETED
    raw = await database["monque_jobs"].find_one({"_id": ObjectId(job.id)})
    assert raw is not None
    assert not {"claimedBy", "claimToken", "lockedAt"} & raw.keys()


async def test_failing_job_is_retried_then_fails_for_good(
    make_monque: MakeMonque,
) -> None:
    monque = make_monque(max_retries=2, base_retry_interval=0.05)
    attempts: list[int] = []
    failures: list[JobFailed] = []
    gave_up = anyio.Event()

    @monque.job("flaky")
    async def flaky(job: Job) -> None:
        attempts.append(job.fail_count)
        raise RuntimeError(f"attempt {len(attempts)} broke")

    def record(event: JobFailed) -> None:
        failures.append(event)
        if not event.will_retry:
            gave_up.set()

    monque.on(JobFailed, record)
    async with monque:
        job = await monque.enqueue("flaky", {"n": 1})
        with anyio.fail_after(15):
            await gave_up.wait()

    assert attempts == [0, 1, 2]
    assert [event.will_retry for event in failures] == [True, True, False]
    assert failures[0].next_run_at is not None
    assert failures[-1].next_run_at is None
    final = await monque.get_job(job.id)
    assert final is not None
    assert final.status is JobStatus.FAILED
    assert final.fail_count == 3
    assert final.fail_reason == "RuntimeError: attempt 3 broke"


async def test_job_that_fails_once_then_succeeds_completes(
    make_monque: MakeMonque,
) -> None:
    monque = make_monque(base_retry_interval=0.05)
    done = anyio.Event()

    @monque.job("once")
    async def once(job: Job) -> None:
        if job.fail_count == 0:
            raise ValueError("first try fails")

    monque.on(JobCompleted, lambda event: done.set())
    async with monque:
        job = await monque.enqueue("once")
        with anyio.fail_after(10):
            await done.wait()

    final = await monque.get_job(job.id)
    assert final is not None
    assert final.status is JobStatus.COMPLETED
    assert final.fail_count == 1
    assert final.fail_reason == "ValueError: first try fails"


async def test_sync_handler_runs_in_a_worker_thread(make_monque: MakeMonque) -> None:
    monque = make_monque()
    threads: list[int] = []
    done = anyio.Event()

    @monque.job("report")
    def build_report(job: Job) -> None:
        import threading

        threads.append(threading.get_ident())

    monque.on(JobCompleted, lambda event: done.set())
    async with monque:
        job = await monque.enqueue("report", {"id": 7})
        with anyio.fail_after(10):
            await done.wait()

    import threading

    assert threads and threads[0] != threading.get_ident()
    final = await monque.get_job(job.id)
    assert final is not None
    assert final.status is JobStatus.COMPLETED


async def test_enqueue_wakes_the_local_worker_without_waiting_a_poll(
    make_monque: MakeMonque,
) -> None:
    monque = make_monque(poll_interval=60.0)
    started = anyio.Event()

    @monque.job("ping")
    async def ping(job: Job) -> None:
        started.set()

    async with monque:
        await monque.enqueue("ping")
        with anyio.fail_after(10):
            await started.wait()


async def test_delayed_job_waits_for_its_time(make_monque: MakeMonque) -> None:
    monque = make_monque(poll_interval=0.05)
    starts: list[dt.datetime] = []
    started = anyio.Event()

    @monque.job("later")
    async def later(job: Job) -> None:
        starts.append(dt.datetime.now(dt.timezone.utc))
        started.set()

    async with monque:
        job = await monque.enqueue("later", delay=0.5)
        with anyio.fail_after(10):
            await started.wait()

    assert starts[0] >= job.next_run_at


async def test_using_an_uninitialized_instance_is_refused(
    make_monque: MakeMonque,
) -> None:
    monque = make_monque()

    with pytest.raises(NotInitializedError, match="initialize"):
        await monque.enqueue("email.send", {})

    with pytest.raises(NotInitializedError):
        await monque.start()


async def test_initialize_is_idempotent_and_creates_the_indexes(
    make_monque: MakeMonque, database: AsyncDatabase[dict[str, Any]]
) -> None:
    await make_monque().initialize()
    await make_monque().initialize()

    names = {
        index["name"] async for index in await database["monque_jobs"].list_indexes()
    }
    assert {"monque_claim", "monque_stale", "monque_unique"} <= names
