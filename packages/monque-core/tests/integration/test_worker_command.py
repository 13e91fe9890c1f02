"""`monque worker module:attribute`: a worker process that stops on signals."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from click.testing import CliRunner
from pymongo.asynchronous.database import AsyncDatabase

from monque import Job, JobStatus, Monque
from monque._cli import main

pytestmark = pytest.mark.anyio

TARGET_MODULE = '''
"""Worker targets for the tests: an instance, factories and an ASGI app."""

import os

import anyio
from pymongo import AsyncMongoClient

from monque import Job, Monque


def make_monque() -> Monque:
    client = AsyncMongoClient(os.environ["WORKER_TEST_URI"], tz_aware=True)
    monque = Monque(
        client[os.environ["WORKER_TEST_DB"]],
        poll_interval=0.05,
        shutdown_timeout=float(os.environ["WORKER_TEST_SHUTDOWN"]),
    )

    @monque.job("sleep")
    async def sleep(job: Job) -> None:
        await anyio.sleep(job.data["seconds"])

    return monque


monque = make_monque()


async def make_monque_later() -> Monque:
    return make_monque()


async def app(scope, receive, send):
    """A bare ASGI app whose lifespan runs an instance, as monque_lifespan does."""
    assert scope["type"] == "lifespan"
    instance = make_monque()
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await instance.initialize()
            await instance.start()
            scope["state"]["monque"] = instance
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await instance.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return
'''


class Worker:
    """A `monque worker` subprocess and its log."""

    def __init__(self, process: Process, log: Path) -> None:
        self.process = process
        self.log = log

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def logged(self, text: str) -> None:
        """Wait until the worker's log shows `text`, failing if it exits first."""
        with anyio.fail_after(30):
            while text not in self.output:
                assert self.process.returncode is None, self.output
                await anyio.sleep(0.05)

    async def ready(self) -> None:
        await self.logged("Worker ready")

    async def exit_code(self) -> int:
        with anyio.fail_after(30):
            return await self.process.wait()


@pytest.fixture
def target_dir(tmp_path: Path) -> Path:
    (tmp_path / "worker_target.py").write_text(TARGET_MODULE)
    return tmp_path


@contextlib.asynccontextmanager
async def run_worker(
    target_dir: Path,
    *args: str,
    uri: str,
    database: str,
    shutdown_timeout: float = 10.0,
) -> AsyncIterator[Worker]:
    env = dict(os.environ)
    env.update(
        WORKER_TEST_URI=uri,
        WORKER_TEST_DB=database,
        WORKER_TEST_SHUTDOWN=str(shutdown_timeout),
    )
    command = [sys.executable, "-m", "monque._cli", "worker", *args]
    command += ["--app-dir", str(target_dir)]
    log = target_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
    with log.open("wb") as out:
        process = await anyio.open_process(command, stdout=out, stderr=out, env=env)

    try:
        yield Worker(process, log)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

        await process.aclose()


async def producer(database: AsyncDatabase[Any]) -> Monque:
    monque = Monque(database)
    await monque.initialize()
    return monque


async def wait_for_status(monque: Monque, job: Job, status: JobStatus) -> None:
    with anyio.fail_after(30):
        while True:
            current = await monque.get_job(job.id)
            assert current is not None
            if current.status is status:
                return

            await anyio.sleep(0.02)


async def test_sigterm_lets_running_jobs_finish_and_exits_0(
    database: AsyncDatabase[Any], mongo_uri: str, target_dir: Path
) -> None:
    monque = await producer(database)
    async with run_worker(
        target_dir, "worker_target:monque", uri=mongo_uri, database=database.name
    ) as worker:
        await worker.ready()
        job = await monque.enqueue("sleep", {"seconds": 0.5})
        await wait_for_status(monque, job, JobStatus.PROCESSING)

        worker.process.send_signal(signal.SIGTERM)

        assert await worker.exit_code() == 0, worker.output

    finished = await monque.get_job(job.id)
    assert finished is not None
    assert finished.status is JobStatus.COMPLETED
    assert "Received SIGTERM: stopping gracefully" in worker.output
    assert "Worker stopped" in worker.output


async def test_jobs_running_past_the_grace_period_are_released_and_exit_is_0(
    database: AsyncDatabase[Any], mongo_uri: str, target_dir: Path
) -> None:
    monque = await producer(database)
    async with run_worker(
        target_dir,
        "worker_target:make_monque_later",
        "--factory",
        uri=mongo_uri,
        database=database.name,
        shutdown_timeout=0.3,
    ) as worker:
        await worker.ready()
        job = await monque.enqueue("sleep", {"seconds": 60})
        await wait_for_status(monque, job, JobStatus.PROCESSING)

        worker.process.send_signal(signal.SIGINT)

        assert await worker.exit_code() == 0, worker.output

    released = await monque.get_job(job.id)
    assert released is not None
    assert released.status is JobStatus.PENDING
    assert released.claimed_by is None
    assert "Received SIGINT" in worker.output


async def test_a_second_signal_stops_at_once_with_exit_1(
    database: AsyncDatabase[Any], mongo_uri: str, target_dir: Path
) -> None:
    monque = await producer(database)
    async with run_worker(
        target_dir,
        "worker_target:monque",
        uri=mongo_uri,
        database=database.name,
        shutdown_timeout=60,
    ) as worker:
        await worker.ready()
        job = await monque.enqueue("sleep", {"seconds": 60})
        await wait_for_status(monque, job, JobStatus.PROCESSING)
        worker.process.send_signal(signal.SIGTERM)
        await worker.logged("stopping gracefully")

        worker.process.send_signal(signal.SIGTERM)

        assert await worker.exit_code() == 1, worker.output

    released = await monque.get_job(job.id)
    assert released is not None
    assert released.status is JobStatus.PENDING
    assert "Stopped at once on a second signal" in worker.output


async def test_runs_the_lifespan_of_an_asgi_app(
    database: AsyncDatabase[Any], mongo_uri: str, target_dir: Path
) -> None:
    monque = await producer(database)
    async with run_worker(
        target_dir, "worker_target:app", uri=mongo_uri, database=database.name
    ) as worker:
        await worker.ready()
        job = await monque.enqueue("sleep", {"seconds": 0})
        await wait_for_status(monque, job, JobStatus.COMPLETED)

        worker.process.send_signal(signal.SIGTERM)

        assert await worker.exit_code() == 0, worker.output


async def test_a_start_up_failure_exits_1_with_the_reason(
    target_dir: Path,
) -> None:
    # Nothing listens on port 9: the instance cannot create its indexes.
    uri = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200"
    async with run_worker(
        target_dir, "worker_target:monque", uri=uri, database="unused"
    ) as worker:
        assert await worker.exit_code() == 1

    assert "Error: the worker could not start: DatabaseError" in worker.output


# Argument errors are found before anything starts, in this process.


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    module = tmp_path / "cli_targets.py"
    module.write_text(
        textwrap.dedent(
            """
            answer = 42

            def build():
                return answer
            """
        )
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    yield CliRunner()
    sys.modules.pop("cli_targets", None)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("cli_targets", "is not of the form module:attribute"),
        ("cli_targets:", "is not of the form module:attribute"),
        ("no_such_module:app", "no module named 'no_such_module'"),
        ("cli_targets:missing", "module 'cli_targets' has no attribute 'missing'"),
        ("cli_targets:answer", "int is neither a Monque instance nor an ASGI app"),
    ],
)
def test_bad_targets_are_usage_errors(
    cli: CliRunner, target: str, message: str
) -> None:
    result = cli.invoke(main, ["worker", target])

    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_a_factory_result_is_checked_too(cli: CliRunner) -> None:
    result = cli.invoke(main, ["worker", "cli_targets:build", "--factory"])

    assert result.exit_code == 2, result.output
    assert "int is neither a Monque instance nor an ASGI app" in result.output


def test_the_command_is_documented(cli: CliRunner) -> None:
    result = cli.invoke(main, ["worker", "--help"])

    assert result.exit_code == 0
    assert "Process the jobs of TARGET until SIGINT or SIGTERM" in result.output
