"""An owner whose lease was taken away changes nothing and stops its handler."""

from __future__ import annotations

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
    JobInterrupted,
    Monque,
    StaleJobsRecovered,
)
from monque_testing import on_event, record

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]
Database = AsyncDatabase[dict[str, Any]]


@pytest.mark.parametrize("outcome", ["complete", "fail"])
async def test_a_handler_that_outlives_its_lease_cannot_overwrite_the_new_owner(
    make_monque: MakeMonque, database: Database, outcome: str
) -> None:
    # The old owner renews so rarely that it never notices it lost the lease:
    # only the fence on its outcome write stands between it and the new result.
    old = make_monque(instance_id="old", heartbeat_interval=30, lock_timeout=60)
    started = anyio.Event()
    release = anyio.Event()

    # One slot, taken by the stalled attempt: the old owner cannot claim the
    # job again once it is recovered.
    @old.job("invoice", concurrency=1)
    async def slow(job: Job) -> None:
        started.set()
        await release.wait()
        if outcome == "fail":
            raise RuntimeError("late failure")

    # The new owner counts a lease as lost after 0.8 s of silence.
    new = make_monque(
        instance_id="new",
        heartbeat_interval=0.1,
        lock_timeout=0.8,
        stale_check_interval=0.1,
    )
    new_done = on_event(new, JobCompleted)

    @new.job("invoice")
    async def fast(job: Job) -> None:
        pass

    old_events = record(old)
    await old.initialize()
    await new.initialize()
    job = await old.enqueue("invoice")
    async with old:
        with anyio.fail_after(10):
            await started.wait()

        async with new:
            with anyio.fail_after(10):
                await new_done.wait()

            new_result = await database["monque_jobs"].find_one(
                {"_id": ObjectId(job.id)}
            )
            release.set()
            # Stopping waits for the late handler and its outcome write.
            await old.stop()

    assert new_result is not None
    assert new_result["status"] == "completed"
    assert new_result["recoveryCount"] == 1
    final = await database["monque_jobs"].find_one({"_id": ObjectId(job.id)})
    assert final == new_result
    assert not [e for e in old_events if isinstance(e, JobCompleted | JobFailed)]


async def test_an_owner_that_lost_its_lease_stops_the_handler(
    make_monque: MakeMonque, database: Database
) -> None:
    # A fleet with mismatched settings: the other instance judges leases
    # stale sooner than this one renews them.
    old = make_monque(instance_id="old", heartbeat_interval=1.5, lock_timeout=10)
    stopped = anyio.Event()
    old_started = anyio.Event()

    @old.job("invoice", concurrency=1)
    async def stuck(job: Job) -> None:
        old_started.set()
        try:
            await anyio.sleep_forever()
        finally:
            stopped.set()

    new = make_monque(
        instance_id="new",
        heartbeat_interval=0.1,
        lock_timeout=0.8,
        stale_check_interval=0.1,
    )
    release = anyio.Event()
    new_started = anyio.Event()

    @new.job("invoice")
    async def fast(job: Job) -> None:
        new_started.set()
        await release.wait()

    old_events = record(old)
    old_interrupted = on_event(old, JobInterrupted)
    new_events = record(new)
    new_done = on_event(new, JobCompleted)
    await old.initialize()
    await new.initialize()
    job = await old.enqueue("invoice")
    async with old:
        with anyio.fail_after(10):
            await old_started.wait()

        async with new:
            with anyio.fail_after(10):
                await new_started.wait()

            # Within one heartbeat of the old owner.
            with anyio.fail_after(10):
                await old_interrupted.wait()

            assert stopped.is_set()
            assert old.running_jobs == 0
            release.set()
            with anyio.fail_after(10):
                await new_done.wait()

    interrupted = [e for e in old_events if isinstance(e, JobInterrupted)]
    assert [(e.job.id, e.reason) for e in interrupted] == [(job.id, "lease_lost")]
    assert not [e for e in old_events if isinstance(e, JobCompleted | JobFailed)]
    assert any(isinstance(e, StaleJobsRecovered) for e in new_events)
    final = await database["monque_jobs"].find_one({"_id": ObjectId(job.id)})
    assert final is not None
    assert final["status"] == "completed"
