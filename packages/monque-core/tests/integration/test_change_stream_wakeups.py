"""Change streams wake workers for jobs enqueued elsewhere; polling covers the rest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from monque import ChangeStreamConnected, ChangeStreamFallback, Job, Monque

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]


async def connected_worker(
    make_monque: MakeMonque, name: str, handler: Callable[[Job], Any]
) -> Monque:
    worker = make_monque(poll_interval=60.0)
    worker.register(name, handler)
    connected = anyio.Event()
    worker.on(ChangeStreamConnected, lambda event: connected.set())
    await worker.initialize()
    await worker.start()
    with anyio.fail_after(10):
        await connected.wait()

    return worker


async def test_job_enqueued_by_another_instance_wakes_an_idle_worker(
    make_monque: MakeMonque,
) -> None:
    started = anyio.Event()

    async def handle(job: Job) -> None:
        started.set()

    await connected_worker(make_monque, "email.send", handle)
    producer = make_monque()
    await producer.initialize()

    await producer.enqueue("email.send", {"to": "a@example.com"})

    # The worker polls once a minute: only the change stream can start it sooner.
    with anyio.fail_after(10):
        await started.wait()


async def test_future_job_starts_at_its_time_not_a_poll_later(
    make_monque: MakeMonque,
) -> None:
    started_at: list[dt.datetime] = []
    started = anyio.Event()

    async def handle(job: Job) -> None:
        started_at.append(dt.datetime.now(dt.timezone.utc))
        started.set()

    await connected_worker(make_monque, "reminder", handle)
    producer = make_monque()
    await producer.initialize()

    job = await producer.enqueue("reminder", delay=0.5)

    with anyio.fail_after(10):
        await started.wait()

    assert started_at[0] >= job.next_run_at


async def test_standalone_server_falls_back_to_polling(
    standalone_database: AsyncDatabase[dict[str, Any]],
) -> None:
    monque = Monque(standalone_database, poll_interval=0.1)
    fallbacks: list[ChangeStreamFallback] = []
    done = anyio.Event()

    @monque.job("report")
    async def report(job: Job) -> None:
        done.set()

    monque.on(ChangeStreamFallback, fallbacks.append)
    producer = Monque(standalone_database)
    await producer.initialize()
    async with monque:
        await producer.enqueue("report")
        with anyio.fail_after(10):
            await done.wait()

    assert len(fallbacks) == 1
    assert "replica set" in fallbacks[0].reason
