"""`monque worker module:app` runs a FastAPI app's job routers in their own process."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import Process
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from monque import Job, JobStatus, Monque
from monque_fastapi import JobRouter, MonqueSettings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

SettingsFactory = Callable[..., MonqueSettings]
AppFactory = Callable[..., FastAPI]
Running = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]
MonqueOf = Callable[[FastAPI], Monque]

APP_MODULE = '''
"""An app whose job router the worker command runs."""

import anyio
from fastapi import FastAPI

from monque import Job
from monque_fastapi import JobRouter, MonqueSettings, monque_lifespan

reports = JobRouter(prefix="reports")


@reports.job("build")
async def build(job: Job) -> None:
    await anyio.sleep(job.data.get("seconds", 0))


app = FastAPI(lifespan=monque_lifespan(MonqueSettings(), reports))
'''


class Worker:
    def __init__(self, process: Process, log: Path) -> None:
        self.process = process
        self.log = log

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def ready(self) -> None:
        with anyio.fail_after(30):
            while "Worker ready" not in self.output:
                assert self.process.returncode is None, self.output
                await anyio.sleep(0.05)

    async def exit_code(self) -> int:
        with anyio.fail_after(30):
            return await self.process.wait()


@contextlib.asynccontextmanager
async def run_worker(
    tmp_path: Path, uri: str, database: str, **variables: str
) -> AsyncIterator[Worker]:
    (tmp_path / "reports_app.py").write_text(APP_MODULE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONQUE_")}
    env.update(
        MONQUE_MONGODB_URI=uri,
        MONQUE_DATABASE=database,
        MONQUE_POLL_INTERVAL="0.05",
        MONQUE_SHUTDOWN_TIMEOUT="10",
        **variables,
    )
    command = [sys.executable, "-m", "monque._cli", "worker", "reports_app:app"]
    command += ["--app-dir", str(tmp_path)]
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = await anyio.open_process(command, stdout=out, stderr=out, env=env)

    try:
        yield Worker(process, log)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

        await process.aclose()


async def test_worker_processes_jobs_from_a_producer_only_api_and_stops_on_sigterm(
    database: AsyncDatabase[Any],
    mongo_uri: str,
    tmp_path: Path,
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
    monque_of: MonqueOf,
) -> None:
    # The API node declares the same router but does not process.
    api_jobs = JobRouter(prefix="reports")
    api_jobs.job("build")(_never_called)
    api = make_app(make_settings(disable_job_processing=True), api_jobs, db=database)

    async with (
        running(api) as client,
        run_worker(tmp_path, mongo_uri, database.name) as worker,
    ):
        await worker.ready()
        assert "reports.build" in worker.output
        response = await client.post("/jobs/reports.build", json={"seconds": 0.5})
        job_id = response.json()["id"]
        monque = monque_of(api)
        with anyio.fail_after(30):
            while True:
                job = await monque.get_job(job_id)
                assert job is not None
                if job.status is JobStatus.PROCESSING:
                    break

                await anyio.sleep(0.02)

        worker.process.send_signal(signal.SIGTERM)

        assert await worker.exit_code() == 0, worker.output
        job = await monque.get_job(job_id)

    assert job is not None
    assert job.status is JobStatus.COMPLETED


async def test_worker_refuses_an_app_configured_as_producer_only(
    database: AsyncDatabase[Any], mongo_uri: str, tmp_path: Path
) -> None:
    async with run_worker(
        tmp_path, mongo_uri, database.name, MONQUE_DISABLE_JOB_PROCESSING="true"
    ) as worker:
        assert await worker.exit_code() == 1

    assert "Monque: Job processing is disabled for this instance" in worker.output
    assert "unset MONQUE_DISABLE_JOB_PROCESSING" in worker.output


async def _never_called(job: Job) -> None:
    raise AssertionError("a producer-only app ran a job")
