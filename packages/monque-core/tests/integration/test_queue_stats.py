"""Queue statistics: counts per status, per name, and average processing time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from monque import Job, JobCompleted, JobStatus, Monque

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]
Database = AsyncDatabase[dict[str, Any]]


async def test_counts_per_status_and_name(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()
    await monque.initialize()
    empty = await monque.get_queue_stats()
    assert empty.total == 0
    assert empty.counts == dict.fromkeys(JobStatus, 0)
    assert empty.average_processing_time is None

    await monque.enqueue_many("email", list(range(3)), delay=600)
    await monque.enqueue_many("sms", list(range(2)), delay=600)
    await monque.cancel_jobs([(await monque.get_jobs(name="sms")).jobs[0].id])

    stats = await monque.get_queue_stats()
    assert (stats.pending, stats.cancelled, stats.total) == (4, 1, 5)
    assert (stats.processing, stats.completed, stats.failed) == (0, 0, 0)
    sms = await monque.get_queue_stats(name="sms")
    assert (sms.pending, sms.cancelled, sms.total) == (1, 1, 2)


async def test_average_processing_time_of_completed_jobs(
    make_monque: MakeMonque,
) -> None:
    monque = make_monque()
    done = anyio.Event()
    finished: list[JobCompleted] = []

    @monque.job("nap", concurrency=2)
    async def nap(job: Job) -> None:
        await anyio.sleep(job.data)

    def on_completed(event: JobCompleted) -> None:
        finished.append(event)
        if len(finished) == 2:
            done.set()

    monque.on(JobCompleted, on_completed)
    await monque.initialize()
    await monque.enqueue_many("nap", [0.1, 0.3])

    async with monque:
        with anyio.fail_after(10):
            await done.wait()

    stats = await monque.get_queue_stats(name="nap")
    assert stats.completed == 2
    assert stats.average_processing_time is not None
    assert 0.15 <= stats.average_processing_time < 1.0
