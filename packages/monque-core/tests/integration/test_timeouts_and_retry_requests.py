"""Handler timeouts, non-retryable errors and retry delays asked for by a handler."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from monque import (
    Job,
    JobCompleted,
    JobFailed,
    JobTimeoutError,
    Monque,
    NonRetryableError,
    RetryAfter,
)
from monque_testing import raw

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]
Database = AsyncDatabase[dict[str, Any]]


async def test_an_overrunning_handler_is_cancelled_and_retried_with_backoff(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque(base_retry_interval=0.05)
    attempts: list[int] = []
    cancelled = anyio.Event()
    failures: list[JobFailed] = []
    completed = anyio.Event()

    @monque.job("render", timeout=0.2)
    async def render(job: Job) -> None:
        attempts.append(job.fail_count)
        if job.fail_count == 0:
            try:
                await anyio.sleep_forever()
            finally:
                cancelled.set()

    monque.on(JobFailed, failures.append)
    monque.on(JobCompleted, lambda event: completed.set())
    await monque.initialize()
    job = await monque.enqueue("render")
    async with monque:
        with anyio.fail_after(10):
            await completed.wait()

    assert cancelled.is_set()
    assert attempts == [0, 1]
    [failure] = failures
    assert isinstance(failure.error, JobTimeoutError)
    assert failure.will_retry
    assert failure.next_run_at is not None
    doc = await raw(database, job)
    assert doc["status"] == "completed"
    assert doc["failCount"] == 1
    assert "timeout of 0.2 s" in doc["failReason"]


async def test_a_non_retryable_error_fails_the_job_at_once(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque(max_retries=5)
    failed = anyio.Event()
    failures: list[JobFailed] = []
    runs: list[str] = []

    @monque.job("charge")
    async def charge(job: Job) -> None:
        runs.append(job.id)
        raise NonRetryableError("card declined")

    monque.on(JobFailed, failures.append)
    monque.on(JobFailed, lambda event: failed.set())
    await monque.initialize()
    job = await monque.enqueue("charge")
    async with monque:
        with anyio.fail_after(10):
            await failed.wait()

    assert runs == [job.id]
    assert [f.will_retry for f in failures] == [False]
    doc = await raw(database, job)
    assert doc["status"] == "failed"
    assert doc["failCount"] == 1
    assert "card declined" in doc["failReason"]


async def test_retry_after_sets_the_time_of_the_next_attempt(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque(base_retry_interval=0.05)
    failed = anyio.Event()
    failures: list[JobFailed] = []

    @monque.job("sync.crm")
    async def sync_crm(job: Job) -> None:
        raise RetryAfter(600, "rate limited")

    monque.on(JobFailed, failures.append)
    monque.on(JobFailed, lambda event: failed.set())
    await monque.initialize()
    job = await monque.enqueue("sync.crm")
    before = dt.datetime.now(dt.timezone.utc)
    async with monque:
        with anyio.fail_after(10):
            await failed.wait()

    after = dt.datetime.now(dt.timezone.utc)
    [failure] = failures
    assert failure.will_retry
    doc = await raw(database, job)
    assert doc["status"] == "pending"
    assert doc["failCount"] == 1
    assert "rate limited" in doc["failReason"]
    # The asked-for delay, not the instance's 0.05 s backoff.
    delay = dt.timedelta(seconds=600)
    slack = dt.timedelta(milliseconds=1)
    assert before + delay - slack <= doc["nextRunAt"] <= after + delay + slack
    assert failure.next_run_at == doc["nextRunAt"]
