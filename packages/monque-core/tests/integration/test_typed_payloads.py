"""Typed payloads: a pydantic model validates, stores and rebuilds job data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from bson import ObjectId
from pydantic import BaseModel, Field
from pymongo.asynchronous.database import AsyncDatabase

from monque import (
    Job,
    JobCompleted,
    JobFailed,
    JobStatus,
    Monque,
    PayloadError,
    PayloadValidationError,
)

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]
Database = AsyncDatabase[dict[str, Any]]


class Email(BaseModel):
    to: str = Field(pattern=r".+@.+")
    subject: str
    send_at: dt.datetime | None = None


async def test_enqueue_validates_and_stores_the_json_dump(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()

    @monque.job("email.send", model=Email)
    async def send(job: Job) -> None:
        pass

    await monque.initialize()
    when = dt.datetime(2030, 1, 1, 9, tzinfo=dt.timezone.utc)

    from_dict = await monque.enqueue(
        "email.send", {"to": "a@example.com", "subject": "Hi", "send_at": when}
    )
    from_model = await monque.enqueue(
        "email.send", Email(to="b@example.com", subject="Yo")
    )

    raw = await database["monque_jobs"].find_one({"_id": ObjectId(from_dict.id)})
    assert raw is not None
    assert raw["data"] == {
        "to": "a@example.com",
        "subject": "Hi",
        "send_at": "2030-01-01T09:00:00Z",
    }
    assert from_model.data == {"to": "b@example.com", "subject": "Yo", "send_at": None}


async def test_invalid_data_is_refused_at_enqueue(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()
    monque.register("email.send", lambda job: None, model=Email)
    await monque.initialize()

    with pytest.raises(PayloadValidationError, match="Email") as caught:
        await monque.enqueue("email.send", {"to": "nobody"})

    assert isinstance(caught.value, PayloadError)
    assert "subject" in str(caught.value)
    with pytest.raises(PayloadValidationError):
        await monque.enqueue_many("email.send", [{"to": "a@b", "subject": "x"}, {}])

    assert await database["monque_jobs"].count_documents({}) == 0


async def test_handler_receives_a_model_instance(make_monque: MakeMonque) -> None:
    monque = make_monque()
    received: list[Any] = []
    done = anyio.Event()

    @monque.job("email.send", model=Email)
    def send(job: Job) -> None:
        received.append(job.data)

    monque.on(JobCompleted, lambda event: done.set())
    await monque.initialize()
    await monque.enqueue("email.send", {"to": "a@example.com", "subject": "Hi"})

    async with monque:
        with anyio.fail_after(10):
            await done.wait()

    assert received == [Email(to="a@example.com", subject="Hi")]


async def test_invalid_stored_data_fails_at_once_and_the_worker_goes_on(
    make_monque: MakeMonque,
) -> None:
    producer = make_monque()
    await producer.initialize()
    # Stored by an instance that does not know the model.
    bad = await producer.enqueue("email.send", {"to": "a@example.com"})
    good = await producer.enqueue("email.send", {"to": "a@example.com", "subject": "x"})

    worker = make_monque()
    failures: list[JobFailed] = []
    completed = anyio.Event()
    worker.register("email.send", lambda job: None, model=Email, concurrency=1)
    worker.on(JobFailed, failures.append)
    worker.on(JobCompleted, lambda event: completed.set())
    await worker.initialize()

    async with worker:
        with anyio.fail_after(10):
            await completed.wait()

    assert [event.job.id for event in failures] == [bad.id]
    assert failures[0].will_retry is False
    stored = await worker.get_job(bad.id)
    assert stored is not None
    assert stored.status is JobStatus.FAILED
    assert stored.fail_count == 1
    assert stored.fail_reason is not None
    assert "does not fit Email" in stored.fail_reason
    assert "subject" in stored.fail_reason
    assert (await worker.get_job(good.id)) is not None


async def test_models_without_a_handler_are_dumped(make_monque: MakeMonque) -> None:
    monque = make_monque()
    await monque.initialize()

    job = await monque.enqueue("elsewhere", Email(to="a@b", subject="s"))

    assert job.data == {"to": "a@b", "subject": "s", "send_at": None}
