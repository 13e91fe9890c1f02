"""Claim order: higher priority first, then earlier due time, then insertion."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import anyio
import pytest

from monque import Job, JobCompleted, Monque

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]


async def test_one_slot_runs_jobs_by_priority_then_due_time_then_insertion(
    make_monque: MakeMonque,
) -> None:
    monque = make_monque(max_concurrency=1)
    order: list[str] = []
    all_done = anyio.Event()

    @monque.job("work", concurrency=1)
    async def work(job: Job) -> None:
        order.append(job.data)

    def on_completed(event: JobCompleted) -> None:
        if len(order) == 7:
            all_done.set()

    monque.on(JobCompleted, on_completed)
    await monque.initialize()
    now = dt.datetime.now(dt.timezone.utc)
    earlier = now - dt.timedelta(minutes=5)
    await monque.enqueue("work", "p0-first", priority=0)
    await monque.enqueue("work", "p5-first", priority=5)
    await monque.enqueue("work", "p-1", priority=-1)
    await monque.enqueue("work", "p5-second", priority=5)
    await monque.enqueue("work", "p0-earlier", priority=0, run_at=earlier)
    await monque.enqueue("work", "p10", priority=10)
    await monque.enqueue("work", "p0-second", priority=0)

    async with monque:
        with anyio.fail_after(10):
            await all_done.wait()

    assert order == [
        "p10",
        "p5-first",
        "p5-second",
        "p0-earlier",
        "p0-first",
        "p0-second",
        "p-1",
    ]


async def test_priority_must_be_an_integer(make_monque: MakeMonque) -> None:
    monque = make_monque()
    await monque.initialize()

    with pytest.raises(TypeError, match="priority"):
        await monque.enqueue("work", priority=1.5)  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="priority"):
        await monque.enqueue("work", priority=2**40)
