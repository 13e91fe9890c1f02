"""The database goes away and comes back: every loop carries on, no job is lost."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from monque import Job, JobCompleted, LoopFailed, Monque, StaleJobsRecovered
from monque_testing import until
from testserver import ServerFactory, TestServer

pytestmark = pytest.mark.anyio

Database = AsyncDatabase[dict[str, Any]]


@pytest.fixture
async def disk_server(server_factory: ServerFactory, tmp_path: Path) -> TestServer:
    return server_factory(storage_path=str(tmp_path / "data"))


@pytest.fixture
async def outage_db(disk_server: TestServer) -> AsyncIterator[Database]:
    # Short timeouts, so that every operation during the outage fails fast.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        disk_server.uri,
        serverSelectionTimeoutMS=500,
        connectTimeoutMS=500,
        socketTimeoutMS=10_000,
        tz_aware=True,
    )
    try:
        yield client["outage"]
    finally:
        await client.close()


@pytest.fixture
async def observer_db(disk_server: TestServer) -> AsyncIterator[Database]:
    # The test's own reads and writes wait for the server to come back, rather
    # than failing in the moment between its restart and the client finding it.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        disk_server.uri, serverSelectionTimeoutMS=30_000, tz_aware=True
    )
    try:
        yield client["outage"]
    finally:
        await client.close()


async def test_processing_survives_a_server_restart(
    disk_server: TestServer,
    outage_db: Database,
    observer_db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="monque")
    monque = Monque(
        outage_db,
        poll_interval=0.1,
        heartbeat_interval=0.2,
        lock_timeout=10,
        stale_check_interval=0.25,
        base_retry_interval=0.05,
        shutdown_timeout=5,
    )
    runs: Counter[str] = Counter()
    completed: set[str] = set()
    failures: Counter[str] = Counter()
    server_back = anyio.Event()
    recovered = anyio.Event()

    @monque.job("mail", concurrency=4)
    async def mail(job: Job) -> None:
        runs[job.id] += 1
        await anyio.sleep(0.02)

    @monque.job("export")
    async def export(job: Job) -> None:
        # Holds its lease across the outage: the heartbeat keeps failing.
        runs[job.id] += 1
        await server_back.wait()

    monque.on(JobCompleted, lambda event: completed.add(event.job.id))
    monque.on(LoopFailed, lambda event: failures.update([event.action]))
    monque.on(StaleJobsRecovered, lambda event: recovered.set())
    await monque.initialize()
    long_job = await monque.enqueue("export")
    first = await monque.enqueue_many("mail", [{"n": n} for n in range(40)])
    async with monque:

        async def some_done() -> bool:
            return len(completed) >= 10

        await until(some_done)
        disk_server.stop()

        async def loops_failed() -> bool:
            return failures["heartbeat"] > 0 and failures["stale_sweep"] > 0

        await until(loops_failed)
        disk_server.start()
        restarted_at = dt.datetime.now(dt.timezone.utc)

        async def heartbeat_renewed() -> bool:
            doc = await observer_db["monque_jobs"].find_one(
                {"_id": ObjectId(long_job.id)}
            )
            assert doc is not None
            return bool(doc["lastHeartbeat"] > restarted_at)

        await until(heartbeat_renewed)
        server_back.set()

        # The sweep still runs: a job left by a vanished instance comes back.
        ghost = await monque.enqueue("mail", {"n": "ghost"})
        await observer_db["monque_jobs"].update_one(
            {"_id": ObjectId(ghost.id), "status": "pending"},
            {
                "$set": {
                    "status": "processing",
                    "claimedBy": "ghost",
                    "claimToken": "ghost",
                    "lastHeartbeat": restarted_at - dt.timedelta(hours=1),
                }
            },
        )
        later = await monque.enqueue_many("mail", [{"n": n} for n in range(5)])
        everything = {long_job.id, ghost.id, *(job.id for job in first + later)}

        async def all_done() -> bool:
            return completed >= everything

        await until(all_done)
        assert recovered.is_set()
        assert monque.is_healthy()

    statuses = await observer_db["monque_jobs"].distinct("status")
    assert statuses == ["completed"]
    assert set(runs) == everything
    actions = {getattr(record, "action", None) for record in caplog.records}
    assert {"claim", "heartbeat", "stale_sweep"} <= actions
