"""`stop()` waits for running handlers, then cancels and releases the rest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from monque import Job, JobReleased, JobStatus, Monque

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]


async def test_stop_waits_for_a_running_handler_to_finish(
    make_monque: MakeMonque, database: AsyncDatabase[dict[str, Any]]
) -> None:
    monque = make_monque(shutdown_timeout=10.0)
    started = anyio.Event()
    finished: list[str] = []

    @monque.job("export")
    async def export(job: Job) -> None:
        started.set()
        await anyio.sleep(0.3)
        finished.append(job.id)

    await monque.initialize()
    await monque.start()
    job = await monque.enqueue("export")
    with anyio.fail_after(10):
        await started.wait()

    await monque.stop()

    assert finished == [job.id]
    assert not monque.is_healthy()
    final = await monque.get_job(job.id)
    assert final is not None
    assert final.status is JobStatus.COMPLETED
    assert await database["monque_jobs"].count_documents({"status": "processing"}) == 0


async def test_stop_cancels_and_releases_handlers_past_the_timeout(
    make_monque: MakeMonque, database: AsyncDatabase[dict[str, Any]]
) -> None:
    monque = make_monque(shutdown_timeout=0.2, worker_concurrency=2)
    running = 0
    both_running = anyio.Event()
    cancelled: list[str] = []
    released: list[str] = []

    @monque.job("slow")
    async def slow(job: Job) -> None:
        nonlocal running
        running += 1
        if running == 2:
            both_running.set()

        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(job.id)
            raise

    monque.on(JobReleased, lambda event: released.append(event.job.id))
    await monque.initialize()
    await monque.start()
    jobs = [await monque.enqueue("slow", {"n": n}) for n in range(2)]
    with anyio.fail_after(10):
        await both_running.wait()

    with anyio.fail_after(10):
        await monque.stop()

    ids = sorted(job.id for job in jobs)
    assert sorted(cancelled) == ids
    assert sorted(released) == ids
    assert await database["monque_jobs"].count_documents({"status": "processing"}) == 0
    for job in jobs:
        final = await monque.get_job(job.id)
        assert final is not None
        assert final.status is JobStatus.PENDING
        assert final.fail_count == 0
        assert final.claimed_by is None


async def test_stop_is_safe_to_repeat_and_instance_restarts(
    make_monque: MakeMonque,
) -> None:
    monque = make_monque()
    done = anyio.Event()

    @monque.job("tick")
    async def tick(job: Job) -> None:
        done.set()

    await monque.initialize()
    await monque.start()
    assert monque.is_healthy()
    await monque.stop()
    await monque.stop()
    assert not monque.is_healthy()

    await monque.start()
    await monque.enqueue("tick")
    with anyio.fail_after(10):
        await done.wait()

    await monque.stop()
