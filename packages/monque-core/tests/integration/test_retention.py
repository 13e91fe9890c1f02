"""Retention: completed and failed jobs are removed once old enough."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from monque import JobsPurged, Monque, PurgeResult

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]
Database = AsyncDatabase[dict[str, Any]]


async def _finished(
    monque: Monque, database: Database, status: str, age: dt.timedelta
) -> str:
    job = await monque.enqueue(f"{status}.job", delay=3600)
    when = dt.datetime.now(dt.timezone.utc) - age
    await database["monque_jobs"].update_one(
        {"name": job.name, "status": "pending"},
        {"$set": {"status": status, "updatedAt": when}},
    )
    return job.id


async def test_purge_removes_only_old_finished_jobs(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque(completed_retention=3600, failed_retention=7 * 86400)
    purged: list[JobsPurged] = []
    monque.on(JobsPurged, purged.append)
    await monque.initialize()
    hours = dt.timedelta(hours=1)
    old_completed = await _finished(monque, database, "completed", 2 * hours)
    new_completed = await _finished(monque, database, "completed", hours / 2)
    old_failed = await _finished(monque, database, "failed", 8 * 24 * hours)
    new_failed = await _finished(monque, database, "failed", 2 * 24 * hours)
    old_cancelled = await _finished(monque, database, "cancelled", 30 * 24 * hours)
    pending = await monque.enqueue("pending.job")

    result = await monque.purge()

    assert result == PurgeResult(completed=1, failed=1)
    assert purged == [JobsPurged(completed=1, failed=1)]
    remaining = {job.id for job in (await monque.get_jobs()).jobs}
    assert remaining == {new_completed, new_failed, old_cancelled, pending.id}
    assert old_completed not in remaining
    assert old_failed not in remaining


async def test_purge_with_explicit_ages_and_no_retention(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()
    await monque.initialize()
    await _finished(monque, database, "completed", dt.timedelta(minutes=10))
    await _finished(monque, database, "failed", dt.timedelta(minutes=10))

    assert await monque.purge() == PurgeResult()
    assert await monque.purge(failed_older_than=60) == PurgeResult(failed=1)
    assert await monque.purge(completed_older_than=60) == PurgeResult(completed=1)
    assert await database["monque_jobs"].count_documents({}) == 0


async def test_running_instance_purges_by_itself(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque(completed_retention=60, cleanup_interval=0.1)
    purged = anyio.Event()
    monque.on(JobsPurged, lambda event: purged.set())
    await monque.initialize()
    await _finished(monque, database, "completed", dt.timedelta(minutes=5))

    async with monque:
        with anyio.fail_after(10):
            await purged.wait()

    assert await database["monque_jobs"].count_documents({}) == 0
