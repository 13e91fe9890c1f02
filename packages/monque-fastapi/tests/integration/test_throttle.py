"""Instance throttling through FastAPI: `max_concurrency` spans every job router."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from monque import Job
from monque_fastapi import JobRouter, MonqueSettings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

SettingsFactory = Callable[..., MonqueSettings]
AppFactory = Callable[..., FastAPI]
Running = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]

JOBS_PER_ROUTER = 5


async def test_max_concurrency_caps_jobs_of_all_routers_together(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
) -> None:
    in_handler = 0
    peak_in_handler = 0

    async def work(job: Job) -> None:
        nonlocal in_handler, peak_in_handler
        in_handler += 1
        peak_in_handler = max(peak_in_handler, in_handler)
        try:
            await anyio.sleep(0.05)
        finally:
            in_handler -= 1

    email, sms = JobRouter(prefix="email"), JobRouter(prefix="sms")
    email.job("send")(work)
    sms.job("send")(work)
    settings = make_settings(max_concurrency=2, worker_concurrency=5)
    app = make_app(settings, email, sms, db=database)
    jobs = database[settings.collection_name]

    async with running(app) as client:
        for number in range(JOBS_PER_ROUTER):
            for name in ("email.send", "sms.send"):
                response = await client.post(f"/jobs/{name}", json={"n": number})
                assert response.status_code == 200

        peak_processing = 0
        with anyio.fail_after(30):
            while True:
                processing = await jobs.count_documents({"status": "processing"})
                peak_processing = max(peak_processing, processing)
                completed = await jobs.count_documents({"status": "completed"})
                if completed == 2 * JOBS_PER_ROUTER:
                    break

                await anyio.sleep(0.005)

    assert peak_processing <= 2
    assert peak_in_handler == 2
    names = await jobs.distinct("name", {"status": "completed"})
    assert sorted(names) == ["email.send", "sms.send"]
