"""A worker's poll respects its own free slots and the instance's `max_concurrency`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from monque import Job, JobStatus
from monque._events import EventBus
from monque._handler import HandlerSpec
from monque._options import MonqueOptions
from monque._slots import InstanceSlots
from monque._store import Claim
from monque._worker import Worker

pytestmark = pytest.mark.anyio

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def make_job(number: int, name: str = "work") -> Job:
    return Job(
        id=f"{number:024x}",
        name=name,
        data={"n": number},
        status=JobStatus.PROCESSING,
        next_run_at=NOW,
        created_at=NOW,
        updated_at=NOW,
        claim_token=f"token-{number}",
    )


class FakeStore:
    """Hands out jobs from an endless supply and records every claim."""

    def __init__(self, available: int = 1000) -> None:
        self.available = available
        self.claims: list[int] = []
        self.issued = 0
        self.due_lookups = 0

    async def claim(self, name: str, limit: int, *, batch: bool = True) -> Claim:
        self.claims.append(limit)
        count = min(limit, self.available)
        self.available -= count
        jobs = [make_job(self.issued + i, name) for i in range(count)]
        self.issued += count
        return Claim(jobs, drained=count < limit)

    async def next_due(self, name: str) -> dt.datetime | None:
        self.due_lookups += 1
        return None

    def fence(self, job: Job) -> dict[str, Any]:
        return {"_id": job.id}

    def completion(
        self, job: Job, *, next_run_at: dt.datetime | None
    ) -> dict[str, Any]:
        return {"$set": {"status": "completed"}}


class FakeAcks:
    """Accepts every outcome write as done."""

    async def write(
        self, job_id: Any, fence: Any, update: Any, token: str | None
    ) -> bool:
        return True


async def noop(job: Job) -> None:
    return None


def make_worker(
    store: FakeStore, slots: InstanceSlots, *, name: str = "work", concurrency: int = 5
) -> Worker:
    spec = HandlerSpec.build(
        name,
        noop,
        concurrency=concurrency,
        default_concurrency=5,
        max_retries=None,
        timeout=None,
    )
    return Worker(
        spec,
        store=store,  # type: ignore[arg-type]
        slots=slots,
        options=MonqueOptions(max_concurrency=slots.capacity),
        events=EventBus(),
        acks=FakeAcks(),  # type: ignore[arg-type]
    )


async def test_poll_returns_early_when_instance_is_at_max_concurrency() -> None:
    store = FakeStore()
    slots = InstanceSlots(capacity=2)
    first = make_worker(store, slots, name="first")
    second = make_worker(store, slots, name="second")
    started: list[Job] = []

    assert await first.poll(started.append) == 2
    assert await second.poll(started.append) == 0

    assert store.claims == [2]
    assert slots.in_use == 2
    assert len(started) == 2
    assert second.running == {}


async def test_poll_claims_only_the_free_instance_slots() -> None:
    store = FakeStore()
    slots = InstanceSlots(capacity=3)
    busy = make_worker(store, slots, name="busy", concurrency=2)
    roomy = make_worker(store, slots, name="roomy", concurrency=5)
    started: list[Job] = []

    assert await busy.poll(started.append) == 2
    assert await roomy.poll(started.append) == 1

    assert store.claims == [2, 1]
    assert slots.in_use == 3
    assert roomy.free == 4


async def test_poll_claims_worker_free_slots_when_instance_has_room() -> None:
    store = FakeStore()
    slots = InstanceSlots(capacity=None)
    worker = make_worker(store, slots, concurrency=4)
    started: list[Job] = []

    assert await worker.poll(started.append) == 4
    assert await worker.poll(started.append) == 0

    assert store.claims == [4]
    assert worker.free == 0


async def test_poll_returns_unused_slots_when_fewer_jobs_are_due() -> None:
    store = FakeStore(available=1)
    slots = InstanceSlots(capacity=4)
    worker = make_worker(store, slots, concurrency=3)

    assert await worker.poll(lambda job: None) == 1

    assert store.claims == [3]
    assert slots.in_use == 1
    assert slots.free == 3


async def test_failed_claim_gives_back_its_reservation() -> None:
    class BrokenStore(FakeStore):
        async def claim(self, name: str, limit: int, *, batch: bool = True) -> Claim:
            raise ConnectionError("database away")

    slots = InstanceSlots(capacity=2)
    worker = make_worker(BrokenStore(), slots)

    with pytest.raises(ConnectionError):
        await worker.poll(lambda job: None)

    assert slots.in_use == 0


async def test_a_freed_slot_wakes_the_worker_that_was_refused() -> None:
    store = FakeStore()
    slots = InstanceSlots(capacity=1)
    first = make_worker(store, slots, name="first")
    second = make_worker(store, slots, name="second")
    await first.poll(lambda job: None)
    await second.poll(lambda job: None)
    assert not second._wakeup.is_set()

    await first.run_job(next(iter(first.running.values())))

    assert second._wakeup.is_set()
    assert slots.in_use == 0


class OutracedStore(FakeStore):
    """Loses every job of its first claim to a competing instance."""

    async def claim(self, name: str, limit: int, *, batch: bool = True) -> Claim:
        if not self.claims:
            self.claims.append(limit)
            return Claim([], drained=False)

        return await super().claim(name, limit, batch=batch)


async def test_jobs_lost_to_competitors_make_the_worker_poll_again_at_once() -> None:
    store = OutracedStore()
    worker = make_worker(store, InstanceSlots(capacity=None), concurrency=3)

    claimed = await worker.poll(lambda job: None)

    assert claimed == 0
    assert await worker._idle_time(claimed) == 0.0
    assert store.due_lookups == 0


class AlwaysOutracedStore(FakeStore):
    """Loses every job of every claim, as if each one changed under every read."""

    async def claim(self, name: str, limit: int, *, batch: bool = True) -> Claim:
        self.claims.append(limit)
        return Claim([], drained=False)


async def test_a_worker_outraced_again_and_again_stops_polling_at_once() -> None:
    store = AlwaysOutracedStore()
    worker = make_worker(store, InstanceSlots(capacity=None), concurrency=3)

    waits = []
    for _ in range(8):
        claimed = await worker.poll(lambda job: None)
        waits.append(await worker._idle_time(claimed))

    assert waits[:5] == [0.0] * 5
    assert waits[5:] == [worker.options.poll_interval] * 3


async def test_a_drained_queue_makes_the_worker_look_up_the_next_due_job() -> None:
    store = FakeStore(available=0)
    worker = make_worker(store, InstanceSlots(capacity=None), concurrency=3)

    claimed = await worker.poll(lambda job: None)

    assert claimed == 0
    assert await worker._idle_time(claimed) == worker.options.poll_interval
    assert store.due_lookups == 1
