"""Outcomes written in bulk: only writes that matched count, none is lost on stop.

A write that did not match must never be reported as done, and outcomes that were
never written, because the process died holding them, must leave their jobs to
the stale sweep rather than show them completed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from bson import ObjectId
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from monque import (
    Event,
    Job,
    JobCompleted,
    JobReleased,
    Monque,
    SchedulerStopped,
    StaleJobsRecovered,
)

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]
Document = dict[str, Any]


class UpdateCommands(monitoring.CommandListener):
    """Records how many job outcomes each `update` command carried."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "update":
            outcomes = [
                statement
                for statement in event.command["updates"]
                if "lastClaimToken" in statement["u"].get("$set", {})
            ]
            if outcomes:
                self.sizes.append(len(outcomes))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


@pytest.fixture
async def watched_database(
    mongo_uri: str, database: AsyncDatabase[Document]
) -> AsyncIterator[tuple[AsyncDatabase[Document], UpdateCommands]]:
    updates = UpdateCommands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        mongo_uri, event_listeners=[updates], socketTimeoutMS=60_000
    )
    try:
        yield client[database.name], updates
    finally:
        await client.close()


async def test_a_batch_reports_only_the_writes_that_matched(
    watched_database: tuple[AsyncDatabase[Document], UpdateCommands],
    caplog: pytest.LogCaptureFixture,
) -> None:
    db, updates = watched_database
    # A window far longer than the test, and a batch of four: the outcomes are
    # sent together as soon as the last handler returns.
    monque = Monque(db, ack_window=60.0, worker_concurrency=4, poll_interval=0.1)
    monque._acks.max_batch = 4
    gate = anyio.Event()
    started: list[Job] = []
    all_started = anyio.Event()
    completed: list[str] = []
    three_completed = anyio.Event()

    @monque.job("invoice")
    async def invoice(job: Job) -> None:
        started.append(job)
        if len(started) == 4:
            all_started.set()

        await gate.wait()

    def on_completed(event: JobCompleted) -> None:
        completed.append(event.job.id)
        if len(completed) == 3:
            three_completed.set()

    monque.on(JobCompleted, on_completed)
    await monque.initialize()
    jobs = await monque.enqueue_many("invoice", [{"n": n} for n in range(4)])
    await monque.start()
    with anyio.fail_after(10):
        await all_started.wait()

    # Another instance took one job over, as the stale sweep would hand it on.
    taken = jobs[0].id
    await db["monque_jobs"].update_one(
        {"_id": ObjectId(taken)},
        {"$set": {"claimedBy": "node-other", "claimToken": "its-own-claim"}},
    )
    with caplog.at_level(logging.WARNING, logger="monque.worker"):
        gate.set()
        with anyio.fail_after(10):
            await three_completed.wait()

        await monque.stop()

    assert sorted(completed) == sorted(job.id for job in jobs[1:])
    assert updates.sizes == [4], "the four outcomes were not one bulk write"
    doc = await db["monque_jobs"].find_one({"_id": ObjectId(taken)})
    assert doc is not None
    assert (doc["status"], doc["claimedBy"]) == ("processing", "node-other")
    assert any(
        record.__dict__.get("action") == "lost_lease"
        and record.__dict__.get("job_id") == taken
        for record in caplog.records
    )


async def test_queued_outcomes_are_written_before_stop_returns(
    make_monque: MakeMonque, database: AsyncDatabase[Document]
) -> None:
    monque = make_monque(ack_window=60.0, shutdown_timeout=30.0)
    handled = anyio.Event()
    events: list[Event] = []

    @monque.job("invoice")
    async def invoice(job: Job) -> None:
        handled.set()

    monque.on(Event, events.append)
    await monque.initialize()
    job = await monque.enqueue("invoice")
    await monque.start()
    with anyio.fail_after(10):
        await handled.wait()

    # Far less than the window or the shutdown timeout: stop() does not wait
    # for either before it writes the outcome.
    with anyio.fail_after(10):
        await monque.stop()

    kinds = [type(event) for event in events]
    assert JobCompleted in kinds
    assert JobReleased not in kinds
    assert kinds.index(JobCompleted) < kinds.index(SchedulerStopped)
    doc = await database["monque_jobs"].find_one({"_id": ObjectId(job.id)})
    assert doc is not None
    assert doc["status"] == "completed"


DOOMED_INSTANCE = """
import sys

import anyio
from pymongo import AsyncMongoClient

from monque import JobCompleted, Monque


async def main() -> None:
    client = AsyncMongoClient(sys.argv[1], tz_aware=True)
    monque = Monque(
        client[sys.argv[2]],
        instance_id="doomed",
        ack_window=60.0,
        poll_interval=0.1,
        heartbeat_interval=0.5,
        lock_timeout=1.0,
    )

    @monque.job("invoice")
    async def invoice(job):
        print("handled", job.id, flush=True)

    monque.on(JobCompleted, lambda event: print("completed", flush=True))
    async with monque:
        await anyio.sleep_forever()


anyio.run(main)
"""


async def test_outcomes_lost_with_their_process_leave_the_jobs_to_recovery(
    make_monque: MakeMonque, database: AsyncDatabase[Document], mongo_uri: str
) -> None:
    producer = make_monque()
    await producer.initialize()
    jobs = await producer.enqueue_many("invoice", [{"n": n} for n in range(3)])
    lines: list[str] = []

    process = await anyio.open_process(
        [sys.executable, "-c", DOOMED_INSTANCE, mongo_uri, database.name]
    )
    try:
        assert process.stdout is not None
        stdout = BufferedByteReceiveStream(process.stdout)
        with anyio.fail_after(30):
            while len(lines) < 3:
                lines.append((await stdout.receive_until(b"\n", 1000)).decode())

        # Every handler returned; their outcomes wait in the batch window.
        claimed = await database["monque_jobs"].count_documents(
            {"status": "processing", "claimedBy": "doomed"}
        )
        process.kill()
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert all(line.startswith("handled") for line in lines), lines
    assert claimed == 3
    assert await database["monque_jobs"].count_documents({"status": "completed"}) == 0

    completed: list[str] = []
    recovered: list[StaleJobsRecovered] = []
    all_done = anyio.Event()
    rescuer = make_monque(
        heartbeat_interval=0.2, lock_timeout=1.0, stale_check_interval=0.2
    )

    @rescuer.job("invoice")
    async def invoice(job: Job) -> None:
        completed.append(job.id)
        if len(completed) == 3:
            all_done.set()

    rescuer.on(StaleJobsRecovered, recovered.append)
    await rescuer.initialize()
    await rescuer.start()
    with anyio.fail_after(30):
        await all_done.wait()

    await rescuer.stop()
    assert sorted(completed) == sorted(job.id for job in jobs)
    assert sum(event.count for event in recovered) == 3
    assert await database["monque_jobs"].count_documents({"status": "completed"}) == 3
