"""Cancelling a processing job stops its handler, and nothing is written after."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from monque import (
    Job,
    JobCompleted,
    JobFailed,
    JobInterrupted,
    JobStatus,
    Monque,
)
from monque_testing import on_event, raw, record

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]
Database = AsyncDatabase[dict[str, Any]]


class BlockingHandler:
    """A handler that runs until cancelled, unless its job is marked quick."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.stopped = anyio.Event()

    async def __call__(self, job: Job) -> None:
        if job.data and job.data.get("quick"):
            return

        self.started.set()
        try:
            await anyio.sleep_forever()
        finally:
            self.stopped.set()


async def test_cancelling_on_the_owner_stops_the_handler_at_once(
    make_monque: MakeMonque, database: Database
) -> None:
    # A heartbeat far away: only the direct notice can stop the handler in time.
    monque = make_monque(heartbeat_interval=60, lock_timeout=120)
    handler = BlockingHandler()
    monque.register("export", handler, concurrency=1)
    events = record(monque)
    interrupted = on_event(monque, JobInterrupted)
    completed = on_event(monque, JobCompleted)
    await monque.initialize()
    job = await monque.enqueue("export")
    async with monque:
        with anyio.fail_after(10):
            await handler.started.wait()

        await monque.cancel_job(job.id)
        after_cancel = await raw(database, job)
        with anyio.fail_after(5):
            await interrupted.wait()

        assert handler.stopped.is_set()
        # The slot is free again: the next job of the name runs.
        quick = await monque.enqueue("export", {"quick": True})
        with anyio.fail_after(10):
            await completed.wait()

    assert await raw(database, job) == after_cancel
    assert after_cancel["status"] == JobStatus.CANCELLED.value
    stops = [e for e in events if isinstance(e, JobInterrupted)]
    assert [(e.job.id, e.reason) for e in stops] == [(job.id, "cancelled")]
    outcomes = [e for e in events if isinstance(e, JobCompleted | JobFailed)]
    assert [e.job.id for e in outcomes] == [quick.id]


async def test_cancelling_from_another_instance_stops_the_handler(
    make_monque: MakeMonque, database: Database
) -> None:
    owner = make_monque(heartbeat_interval=0.2, lock_timeout=5)
    handler = BlockingHandler()
    owner.register("export", handler, concurrency=1)
    events = record(owner)
    interrupted = on_event(owner, JobInterrupted)
    # A producer-only node: initialized, never started, no handlers.
    producer = make_monque()
    await owner.initialize()
    await producer.initialize()
    job = await producer.enqueue("export")
    async with owner:
        with anyio.fail_after(10):
            await handler.started.wait()

        cancelled = await producer.cancel_job(job.id)
        after_cancel = await raw(database, job)
        # The owner hears of it at its next heartbeat.
        with anyio.fail_after(10):
            await interrupted.wait()

        assert handler.stopped.is_set()

    assert cancelled.status is JobStatus.CANCELLED
    assert await raw(database, job) == after_cancel
    stops = [e for e in events if isinstance(e, JobInterrupted)]
    assert [(e.job.id, e.reason) for e in stops] == [(job.id, "cancelled")]
    assert not [e for e in events if isinstance(e, JobCompleted | JobFailed)]


async def test_a_cancelled_sync_handler_is_abandoned_and_its_result_dropped(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque(heartbeat_interval=60, lock_timeout=120)
    started = anyio.Event()
    release = threading.Event()
    returned = threading.Event()

    @monque.job("report", concurrency=1)
    def report(job: Job) -> None:
        if job.data and job.data.get("quick"):
            return

        anyio.from_thread.run_sync(started.set)
        release.wait(30)
        returned.set()

    events = record(monque)
    interrupted = on_event(monque, JobInterrupted)
    completed = on_event(monque, JobCompleted)
    await monque.initialize()
    job = await monque.enqueue("report")
    async with monque:
        with anyio.fail_after(10):
            await started.wait()

        await monque.cancel_job(job.id)
        after_cancel = await raw(database, job)
        # A thread cannot be interrupted: monque stops waiting for it and frees
        # the slot while the thread still runs.
        with anyio.fail_after(5):
            await interrupted.wait()

        quick = await monque.enqueue("report", {"quick": True})
        with anyio.fail_after(10):
            await completed.wait()

        assert not returned.is_set()
        release.set()
        assert await anyio.to_thread.run_sync(returned.wait, 10)

    assert await raw(database, job) == after_cancel
    stops = [e for e in events if isinstance(e, JobInterrupted)]
    assert [(e.job.id, e.reason) for e in stops] == [(job.id, "cancelled")]
    outcomes = [e for e in events if isinstance(e, JobCompleted | JobFailed)]
    assert [e.job.id for e in outcomes] == [quick.id]
