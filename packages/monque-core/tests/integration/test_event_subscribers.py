"""Event subscribers: every event reaches them, and a failing one breaks nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
import pytest

from monque import (
    Event,
    Job,
    JobCompleted,
    JobEnqueued,
    JobStarted,
    JobStatus,
    Monque,
    SchedulerStarted,
    SchedulerStopped,
)

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]


async def test_a_failing_subscriber_is_logged_and_processing_goes_on(
    make_monque: MakeMonque, caplog: pytest.LogCaptureFixture
) -> None:
    monque = make_monque()
    done = anyio.Event()
    ran: list[str] = []

    @monque.job("report.build")
    async def build(job: Job) -> None:
        ran.append(job.id)

    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    monque.on(Event, broken)
    monque.on(JobCompleted, lambda event: done.set())

    with caplog.at_level(logging.ERROR, logger="monque.events"):
        async with monque:
            job = await monque.enqueue("report.build")
            with anyio.fail_after(10):
                await done.wait()

    stored = await monque.get_job(job.id)
    assert stored is not None
    assert stored.status is JobStatus.COMPLETED
    assert ran == [job.id]
    failures = [r for r in caplog.records if r.name == "monque.events"]
    assert {r.getMessage().split(" failed on ")[1] for r in failures} >= {
        "JobEnqueued",
        "JobStarted",
        "JobCompleted",
    }
    assert all(r.exc_info is not None for r in failures)


async def test_subscribers_see_the_life_cycle_in_order_and_can_unsubscribe(
    make_monque: MakeMonque,
) -> None:
    monque = make_monque()
    done = anyio.Event()
    seen: list[type[Event]] = []

    @monque.job("report.build")
    async def build(job: Job) -> None:
        return None

    unsubscribe = monque.on(Event, lambda event: seen.append(type(event)))
    monque.on(JobCompleted, lambda event: done.set())

    async with monque:
        await monque.enqueue("report.build")
        with anyio.fail_after(10):
            await done.wait()

    lifecycle = [kind for kind in seen if kind is not SchedulerStopped]
    assert lifecycle[0] is SchedulerStarted
    assert [k for k in lifecycle if k in {JobEnqueued, JobStarted, JobCompleted}] == [
        JobEnqueued,
        JobStarted,
        JobCompleted,
    ]
    assert seen[-1] is SchedulerStopped

    unsubscribe()
    count = len(seen)
    await monque.enqueue("report.build")
    assert len(seen) == count


async def test_subscribing_needs_an_event_class_and_a_callable(
    make_monque: MakeMonque,
) -> None:
    monque = make_monque()
    with pytest.raises(TypeError, match="Event class"):
        monque.on(dict, print)  # type: ignore[type-var]

    with pytest.raises(TypeError, match="callable"):
        monque.on(JobCompleted, "not a function")  # type: ignore[arg-type]
