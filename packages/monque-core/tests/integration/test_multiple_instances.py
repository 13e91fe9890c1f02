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
