"""Unique keys: one pending or processing job per name and key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from monque import InvalidJobStateError, Job, JobEnqueued, Monque

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]
Database = AsyncDatabase[dict[str, Any]]


async def test_concurrent_enqueues_with_one_key_make_one_job(
    make_monque: MakeMonque, database: Database
) -> None:
    instances = [make_monque() for _ in range(4)]
    enqueued: list[JobEnqueued] = []
    for monque in instances:
        monque.on(JobEnqueued, enqueued.append)
        await monque.initialize()

    jobs: list[Job] = []

    async def enqueue(monque: Monque, n: int) -> None:
        job = await monque.enqueue("invoice", {"n": n}, unique_key="order-42")
        jobs.append(job)

    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(enqueue, instances[n % len(instances)], n)

    assert len(jobs) == 20
    assert len({job.id for job in jobs}) == 1
    assert len(enqueued) == 1
    assert await database["monque_jobs"].count_documents({}) == 1
    stored = await database["monque_jobs"].find_one({})
    assert stored is not None
    assert jobs[0].data == stored["data"]


async def test_finished_jobs_do_not_hold_the_key(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()
    await monque.initialize()
    first = await monque.enqueue("invoice", unique_key="order-1")
    again = await monque.enqueue("invoice", unique_key="order-1")
    assert again.id == first.id

    await monque.cancel_job(first.id)
    second = await monque.enqueue("invoice", unique_key="order-1")

    assert second.id != first.id
    await database["monque_jobs"].update_one(
        {"uniqueKey": "order-1", "status": "pending"}, {"$set": {"status": "completed"}}
    )
    third = await monque.enqueue("invoice", unique_key="order-1")
    assert third.id not in {first.id, second.id}
    assert await database["monque_jobs"].count_documents({}) == 3


async def test_keys_are_per_job_name(make_monque: MakeMonque) -> None:
    monque = make_monque()
    await monque.initialize()

    invoice = await monque.enqueue("invoice", unique_key="order-1")
    receipt = await monque.enqueue("receipt", unique_key="order-1")

    assert invoice.id != receipt.id


async def test_retry_refuses_a_job_whose_key_is_taken(make_monque: MakeMonque) -> None:
    monque = make_monque()
    await monque.initialize()
    first = await monque.enqueue("invoice", unique_key="order-1")
    await monque.cancel_job(first.id)
    await monque.enqueue("invoice", unique_key="order-1")

    with pytest.raises(InvalidJobStateError, match="unique key") as caught:
        await monque.retry_job(first.id)

    assert caught.value.status == "cancelled"
    assert caught.value.action == "retry"
