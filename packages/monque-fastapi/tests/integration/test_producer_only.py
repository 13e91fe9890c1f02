"""Producer-only mode: an API node enqueues, and only worker nodes process."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from monque import Job, JobCompleted, JobStatus, Monque
from monque_fastapi import JobRouter, MonqueSettings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

SettingsFactory = Callable[..., MonqueSettings]
AppFactory = Callable[..., FastAPI]
Running = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]

POLL_INTERVAL = 0.05


def email_router(ran: list[str]) -> JobRouter:
    email = JobRouter(prefix="email")

    @email.job("send")
    async def send(job: Job) -> None:
        ran.append(job.id)

    return email


async def test_producer_only_app_enqueues_but_never_processes(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
    monque_of: Callable[[FastAPI], Monque],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []
    settings = make_settings(disable_job_processing=True, poll_interval=POLL_INTERVAL)
    app = make_app(settings, email_router(ran), db=database)

    with caplog.at_level(logging.INFO, logger="monque.fastapi"):
        async with running(app) as client:
            monque = monque_of(app)
            response = await client.post("/jobs/email.send", json={"to": "ada"})
            assert response.status_code == 200
            job_id = response.json()["id"]

            # Staying pending is the behaviour under test: give a processing
            # instance many poll intervals in which it would have claimed the job.
            await anyio.sleep(10 * POLL_INTERVAL)

            job = await monque.get_job(job_id)
            assert job is not None
            assert job.status is JobStatus.PENDING
            assert job.data == {"to": "ada"}
            assert not monque.is_healthy()
            assert monque.handlers == {}
            assert ran == []

    messages = [r.getMessage() for r in caplog.records if r.name == "monque.fastapi"]
    assert "Monque: Job processing is disabled for this instance" in messages
    assert ran == []


async def test_worker_node_processes_what_the_api_node_enqueued(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
    monque_of: Callable[[FastAPI], Monque],
) -> None:
    ran: list[str] = []
    api = make_app(
        make_settings(disable_job_processing=True), email_router([]), db=database
    )
    worker = make_app(make_settings(), email_router(ran), db=database)

    async with running(api) as api_client, running(worker):
        worker_monque = monque_of(worker)
        assert worker_monque.is_healthy()
        assert not monque_of(api).is_healthy()
        done = anyio.Event()
        worker_monque.on(JobCompleted, lambda event: done.set())

        response = await api_client.post("/jobs/email.send", json={"to": "ada"})
        job_id = response.json()["id"]
        with anyio.fail_after(10):
            await done.wait()

        job = await monque_of(api).get_job(job_id)
        assert job is not None
        assert job.status is JobStatus.COMPLETED
        assert ran == [job_id]
