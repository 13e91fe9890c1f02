"""A worker stops exactly the attempt it is told to, and writes nothing for it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from monque import Job, JobCompleted, JobInterrupted, JobStatus
from monque._events import Event, EventBus
from monque._handler import HandlerSpec
from monque._options import MonqueOptions
from monque._slots import InstanceSlots
from monque._store import Claim
from monque._worker import Worker

pytestmark = pytest.mark.anyio

Document = dict[str, Any]
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def make_job(number: int, token: str) -> Job:
    return Job(
        id=f"{number:024x}",
        name="work",
        data={"n": number},
        status=JobStatus.PROCESSING,
        next_run_at=NOW,
        created_at=NOW,
        updated_at=NOW,
        claim_token=token,
    )


class BatchStore:
    """Hands out jobs the way a batch claim does: all under one token."""

    def __init__(self, count: int) -> None:
        self.jobs = [make_job(n, "batch") for n in range(count)]
        self.completed: list[str] = []

    async def claim(self, name: str, limit: int, *, batch: bool = True) -> Claim:
        jobs, self.jobs = self.jobs[:limit], self.jobs[limit:]
        return Claim(jobs, drained=len(jobs) < limit)

    def completion(self, job: Job, *, next_run_at: dt.datetime | None) -> Document:
        return {"$set": {"status": "completed"}}

    def fence(self, job: Job) -> Document:
        return {"_id": job.id, "claimToken": job.claim_token}


class RecordingAcks:
    """Takes every outcome write as done, and records whose it was."""

    def __init__(self, store: BatchStore) -> None:
        self.store = store

    async def write(
        self, job_id: Any, fence: Document, update: Document, token: str | None
    ) -> bool:
        self.store.completed.append(job_id)
        return True


def make_worker(store: BatchStore, handler: object, events: EventBus) -> Worker:
    spec = HandlerSpec.build(
        "work",
        handler,  # type: ignore[arg-type]
        concurrency=5,
        default_concurrency=5,
        max_retries=None,
        timeout=None,
    )
    return Worker(
        spec,
        store=store,  # type: ignore[arg-type]
        slots=InstanceSlots(None),
        options=MonqueOptions(),
        events=events,
        acks=RecordingAcks(store),  # type: ignore[arg-type]
    )


async def test_interrupting_one_job_of_a_batch_leaves_the_others_running() -> None:
    store = BatchStore(3)
    events = EventBus()
    seen: list[Event] = []
    events.subscribe(Event, seen.append)
    release = anyio.Event()
    all_started = anyio.Event()
    started: list[str] = []

    async def handler(job: Job) -> None:
        started.append(job.id)
        if len(started) == 3:
            all_started.set()

        await release.wait()

    worker = make_worker(store, handler, events)
    claimed: list[Job] = []
    assert await worker.poll(claimed.append) == 3
    async with anyio.create_task_group() as tasks:
        for job in claimed:
            tasks.start_soon(worker.run_job, job)

        with anyio.fail_after(5):
            await all_started.wait()

        victim = claimed[1]
        assert worker.interrupt(victim.id, "lease_lost", token="batch")
        assert not worker.interrupt("f" * 24, "cancelled")
        release.set()

    assert sorted(store.completed) == sorted([claimed[0].id, claimed[2].id])
    stops = [e for e in seen if isinstance(e, JobInterrupted)]
    assert [(e.job.id, e.reason) for e in stops] == [(victim.id, "lease_lost")]
    done = {e.job.id for e in seen if isinstance(e, JobCompleted)}
    assert victim.id not in done
    assert worker.running == {}
    assert worker.slots.in_use == 0


async def test_an_interruption_before_the_handler_starts_still_stops_it() -> None:
    store = BatchStore(1)
    events = EventBus()
    seen: list[Event] = []
    events.subscribe(Event, seen.append)
    calls: list[str] = []

    async def handler(job: Job) -> None:
        calls.append(job.id)
        await anyio.lowlevel.checkpoint()
        calls.append("after the first checkpoint")

    worker = make_worker(store, handler, events)
    claimed: list[Job] = []
    assert await worker.poll(claimed.append) == 1
    assert worker.interrupt(claimed[0].id, "cancelled")
    await worker.run_job(claimed[0])

    assert "after the first checkpoint" not in calls
    assert store.completed == []
    assert not [e for e in seen if isinstance(e, JobCompleted)]
    assert [e.reason for e in seen if isinstance(e, JobInterrupted)] == ["cancelled"]
