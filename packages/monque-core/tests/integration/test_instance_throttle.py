"""`max_concurrency` bounds the jobs one instance runs over all its workers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from monque import Job, JobCompleted, JobStatus, Monque

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]


async def test_two_workers_never_exceed_the_instance_limit(
    make_monque: MakeMonque, database: AsyncDatabase[dict[str, Any]]
) -> None:
    monque = make_monque(max_concurrency=2, worker_concurrency=5, poll_interval=0.05)
    collection = database["monque_jobs"]
    running = 0
    most_running = 0
    completed = 0
    all_done = anyio.Event()

    async def work(job: Job) -> None:
        nonlocal running, most_running
        running += 1
        most_running = max(most_running, running)
        try:
            await anyio.sleep(0.1)
        finally:
            running -= 1

    monque.register("email.send", work)
    monque.register("report.build", work)

    def count(event: JobCompleted) -> None:
        nonlocal completed
        completed += 1
        if completed == 10:
            all_done.set()

    monque.on(JobCompleted, count)
    await monque.initialize()
    for number in range(5):
        await monque.enqueue("email.send", {"n": number})
        await monque.enqueue("report.build", {"n": number})

    samples: list[int] = []

    async def sample() -> None:
        while not all_done.is_set():
            samples.append(await collection.count_documents({"status": "processing"}))

    async with monque, anyio.create_task_group() as group:
        group.start_soon(sample)
        with anyio.fail_after(30):
            await all_done.wait()

    assert max(samples) <= 2
    assert max(samples) == 2, "the limit was never reached: the test proves nothing"
    assert most_running == 2
    assert await collection.count_documents({"status": "completed"}) == 10
    assert monque.running_jobs == 0


async def test_limit_of_one_runs_jobs_one_at_a_time(make_monque: MakeMonque) -> None:
    monque = make_monque(max_concurrency=1, worker_concurrency=3, poll_interval=0.05)
    order: list[tuple[str, str]] = []
    completed = 0
    all_done = anyio.Event()

    async def work(job: Job) -> None:
        order.append(("start", job.id))
        await anyio.sleep(0.02)
        order.append(("end", job.id))

    monque.register("a", work)
    monque.register("b", work)

    def count(event: JobCompleted) -> None:
        nonlocal completed
        completed += 1
        if completed == 6:
            all_done.set()

    monque.on(JobCompleted, count)
    async with monque:
        for number in range(3):
            await monque.enqueue("a", {"n": number})
            await monque.enqueue("b", {"n": number})

        with anyio.fail_after(30):
            await all_done.wait()

    kinds = [kind for kind, _ in order]
    assert kinds == ["start", "end"] * 6


async def test_per_worker_concurrency_applies_without_an_instance_limit(
    make_monque: MakeMonque, database: AsyncDatabase[dict[str, Any]]
) -> None:
    monque = make_monque(poll_interval=0.05)
    running = 0
    most_running = 0
    release = anyio.Event()
    three_running = anyio.Event()

    @monque.job("resize", concurrency=3)
    async def resize(job: Job) -> None:
        nonlocal running, most_running
        running += 1
        most_running = max(most_running, running)
        if running == 3:
            three_running.set()

        await release.wait()
        running -= 1

    async with monque:
        jobs = [await monque.enqueue("resize", {"n": n}) for n in range(6)]
        with anyio.fail_after(10):
            await three_running.wait()

        processing = await database["monque_jobs"].count_documents(
            {"status": "processing"}
        )
        release.set()

    assert processing == 3
    assert most_running == 3
    states = [await monque.get_job(job.id) for job in jobs]
    assert all(state is not None for state in states)
    assert {state.status for state in states if state} <= {
        JobStatus.COMPLETED,
        JobStatus.PENDING,
    }
