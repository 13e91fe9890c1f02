"""Several instances on one collection run each job exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from monque import Job, JobCompleted, Monque

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]


async def test_three_instances_run_sixty_jobs_once_each(
    make_monque: MakeMonque, database: AsyncDatabase[dict[str, Any]]
) -> None:
    runs: Counter[str] = Counter()
    runners: dict[str, str] = {}
    all_done = anyio.Event()
    instances = [
        make_monque(instance_id=f"node-{n}", worker_concurrency=4, poll_interval=0.05)
        for n in range(3)
    ]

    def on_completed(event: JobCompleted) -> None:
        if sum(runs.values()) == 60:
            all_done.set()

    for monque in instances:

        async def work(job: Job, owner: str = monque.instance_id) -> None:
            runs[job.id] += 1
            runners[job.id] = owner
            await anyio.sleep(0.01)

        monque.register("index.update", work)
        monque.on(JobCompleted, on_completed)
        await monque.initialize()

    jobs = await instances[0].enqueue_many(
        "index.update", [{"n": n} for n in range(60)]
    )
    for monque in instances:
        await monque.start()

    with anyio.fail_after(60):
        await all_done.wait()

    for monque in instances:
        await monque.stop()

    assert len(jobs) == 60
    assert set(runs) == {job.id for job in jobs}
    assert set(runs.values()) == {1}
    assert await database["monque_jobs"].count_documents({"status": "completed"}) == 60
    assert len(set(runners.values())) >= 2, "the instances did not share the work"


async def test_throttled_instances_run_three_hundred_jobs_once_each(
    make_monque: MakeMonque, database: AsyncDatabase[dict[str, Any]]
) -> None:
    total = 300
    limit = 3
    runs: Counter[str] = Counter()
    running: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    all_done = anyio.Event()
    # Two job names of five slots each: only max_concurrency holds them back.
    instances = [
        make_monque(
            instance_id=f"node-{n}",
            max_concurrency=limit,
            worker_concurrency=5,
            poll_interval=0.05,
        )
        for n in range(3)
    ]

    def on_completed(event: JobCompleted) -> None:
        if sum(runs.values()) == total:
            all_done.set()

    for monque in instances:

        async def work(job: Job, owner: str = monque.instance_id) -> None:
            runs[job.id] += 1
            running[owner] += 1
            peak[owner] = max(peak[owner], running[owner])
            try:
                await anyio.sleep(0.005)
            finally:
                running[owner] -= 1

        monque.register("thumbnail", work)
        monque.register("transcode", work)
        monque.on(JobCompleted, on_completed)
        await monque.initialize()

    jobs = await instances[0].enqueue_many(
        "thumbnail", [{"n": n} for n in range(total // 2)]
    )
    jobs += await instances[0].enqueue_many(
        "transcode", [{"n": n} for n in range(total // 2)]
    )
    for monque in instances:
        await monque.start()

    with anyio.fail_after(90):
        await all_done.wait()

    for monque in instances:
        await monque.stop()

    assert runs == Counter({job.id: 1 for job in jobs})
    assert await database["monque_jobs"].count_documents({"status": "completed"}) == (
        total
    )
    assert set(peak) == {monque.instance_id for monque in instances}
    assert max(peak.values()) <= limit
