"""Batch claims by competing instances: no job runs twice, no limit is exceeded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from monque import Job, JobCompleted, Monque
from monque._store import Claim

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]

JOBS_PER_NAME = 90
NAMES = ("thumbnail", "transcode")


async def test_competing_batch_claims_run_each_job_once_within_limits(
    make_monque: MakeMonque, database: AsyncDatabase[dict[str, Any]]
) -> None:
    runs: Counter[str] = Counter()
    running: Counter[tuple[str, str]] = Counter()
    peak: Counter[tuple[str, str]] = Counter()
    claims: list[tuple[int, int]] = []
    completed = 0
    all_done = anyio.Event()

    def on_completed(event: JobCompleted) -> None:
        nonlocal completed
        completed += 1
        if completed == JOBS_PER_NAME * len(NAMES):
            all_done.set()

    instances = [
        make_monque(instance_id=f"node-{n}", max_concurrency=6, poll_interval=0.05)
        for n in range(3)
    ]
    for monque in instances:
        store_claim = monque.store.claim

        async def claim(
            name: str, limit: int, *, batch: bool = True, store_claim: Any = store_claim
        ) -> Claim:
            claim: Claim = await store_claim(name, limit, batch=batch)
            claims.append((limit, len(claim.jobs)))
            return claim

        monque.store.claim = claim  # type: ignore[method-assign]
        for name in NAMES:

            async def work(job: Job, owner: str = monque.instance_id) -> None:
                runs[job.id] += 1
                for key in ((owner, job.name), (owner, "*")):
                    running[key] += 1
                    peak[key] = max(peak[key], running[key])

                await anyio.sleep(0.002)
                for key in ((owner, job.name), (owner, "*")):
                    running[key] -= 1

            monque.register(name, work, concurrency=5)

        monque.on(JobCompleted, on_completed)
        await monque.initialize()

    enqueued = [
        job
        for name in NAMES
        for job in await instances[0].enqueue_many(
            name, [{"n": n} for n in range(JOBS_PER_NAME)]
        )
    ]
    for monque in instances:
        await monque.start()

    with anyio.fail_after(60):
        await all_done.wait()

    for monque in instances:
        await monque.stop()

    assert set(runs) == {job.id for job in enqueued}
    assert set(runs.values()) == {1}, "a job ran twice"
    assert await database["monque_jobs"].count_documents({"status": "completed"}) == (
        JOBS_PER_NAME * len(NAMES)
    )
    for (owner, name), most in peak.items():
        assert most <= (6 if name == "*" else 5), (owner, name, most)

    assert all(got <= limit for limit, got in claims)
    assert any(got > 1 for _, got in claims), "no claim took more than one job"
    assert {owner for owner, _ in peak} == {m.instance_id for m in instances}
