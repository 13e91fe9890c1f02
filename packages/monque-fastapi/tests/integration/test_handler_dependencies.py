"""Job handlers declare FastAPI dependencies, solved afresh for every job."""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any

import anyio
import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from pymongo.asynchronous.database import AsyncDatabase

from monque import Job, JobCompleted, JobFailed, JobStatus, Monque
from monque_fastapi import JobRouter, MonqueDep, MonqueSettings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

SettingsFactory = Callable[..., MonqueSettings]
AppFactory = Callable[..., FastAPI]
Running = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]
MonqueOf = Callable[[FastAPI], Monque]


class Recorder:
    """Collects what handlers and dependencies did, and signals finished jobs."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.finished: dict[str, anyio.Event] = {}
        self.failures: dict[str, JobFailed] = {}
        self.sessions = itertools.count(1)

    def watch(self, monque: Monque) -> None:
        monque.on(JobCompleted, lambda event: self._finish(event.job.id))
        monque.on(JobFailed, self._failed)

    def _failed(self, event: JobFailed) -> None:
        self.failures[event.job.id] = event
        self._finish(event.job.id)

    def _finish(self, job_id: str) -> None:
        self.finished.setdefault(job_id, anyio.Event()).set()

    async def wait(self, job_id: str) -> None:
        with anyio.fail_after(10):
            await self.finished.setdefault(job_id, anyio.Event()).wait()


# Dependencies live at module level: with postponed annotations, FastAPI
# evaluates `Annotated[..., Depends(...)]` in the module's namespace.


def get_recorder(request: Request) -> Recorder:
    recorder = request.app.state.recorder
    assert isinstance(recorder, Recorder)
    return recorder


RecorderDep = Annotated[Recorder, Depends(get_recorder)]


def get_greeting(request: Request) -> str:
    # The lifespan state reaches job dependencies as it reaches routes.
    greeting: str = request.state.greeting
    return greeting


async def get_session(
    record: RecorderDep, greeting: Annotated[str, Depends(get_greeting)]
) -> AsyncIterator[str]:
    session = f"{greeting}-{next(record.sessions)}"
    record.steps.append(f"open {session}")
    yield session
    record.steps.append(f"close {session}")


async def transaction(record: RecorderDep) -> AsyncIterator[str]:
    record.steps.append("begin")
    try:
        yield "tx"
    except Exception as exc:
        record.steps.append(f"rollback after {exc}")
        raise
    else:
        record.steps.append("commit")
    finally:
        record.steps.append("release")


async def forgiving(record: RecorderDep) -> AsyncIterator[None]:
    try:
        yield
    except Exception:
        record.steps.append("swallowed")


def open_file(record: RecorderDep) -> Iterator[str]:
    record.steps.append(f"open file in thread {threading.get_ident()}")
    yield "file"
    record.steps.append("close file")


def get_mailer() -> str:
    return "smtp"


def start_app(
    make_app: AppFactory,
    settings: MonqueSettings,
    jobs: JobRouter,
    database: AsyncDatabase[Any],
) -> tuple[FastAPI, Recorder]:
    record = Recorder()

    @contextlib.asynccontextmanager
    async def own_lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        record.watch(app.state.monque)
        yield {"greeting": "hi"}

    app = make_app(settings, jobs, db=database, lifespan=own_lifespan)
    app.state.recorder = record
    return app, record


async def enqueue(client: httpx.AsyncClient, name: str, **data: Any) -> str:
    response = await client.post(f"/jobs/{name}", json=data)
    assert response.status_code == 200, response.text
    job_id: str = response.json()["id"]
    return job_id


async def test_dependencies_are_solved_per_job_and_closed_after_it(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
) -> None:
    jobs = JobRouter(prefix="orders")

    @jobs.job("ship")
    async def ship(
        job: Job,
        record: RecorderDep,
        session: Annotated[str, Depends(get_session)],
        same_session: Annotated[str, Depends(get_session)],
        monque: MonqueDep,
    ) -> None:
        assert session == same_session  # solved once per job
        assert monque.is_healthy()
        record.steps.append(f"run {job.data['order']} in {session}")

    app, record = start_app(make_app, make_settings(), jobs, database)

    async with running(app) as client:
        first = await enqueue(client, "orders.ship", order=1)
        await record.wait(first)
        second = await enqueue(client, "orders.ship", order=2)
        await record.wait(second)

    assert record.failures == {}
    assert record.steps == [
        "open hi-1",
        "run 1 in hi-1",
        "close hi-1",
        "open hi-2",
        "run 2 in hi-2",
        "close hi-2",
    ]


async def test_yield_dependency_is_closed_after_a_failing_job(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
    monque_of: MonqueOf,
) -> None:
    jobs = JobRouter(prefix="billing")

    @jobs.job("charge", max_retries=0)
    async def charge(
        job: Job, record: RecorderDep, tx: Annotated[str, Depends(transaction)]
    ) -> None:
        record.steps.append(f"charge in {tx}")
        raise RuntimeError("card declined")

    app, record = start_app(make_app, make_settings(), jobs, database)

    async with running(app) as client:
        job_id = await enqueue(client, "billing.charge")
        await record.wait(job_id)
        job = await monque_of(app).get_job(job_id)

    assert record.steps == [
        "begin",
        "charge in tx",
        "rollback after card declined",
        "release",
    ]
    assert not record.failures[job_id].will_retry
    assert job is not None
    assert job.status is JobStatus.FAILED
    assert job.fail_reason is not None
    assert "card declined" in job.fail_reason


async def test_a_dependency_that_swallows_the_error_does_not_complete_the_job(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
) -> None:
    jobs = JobRouter(prefix="sync")

    @jobs.job("pull", max_retries=0)
    async def pull(job: Job, _: Annotated[None, Depends(forgiving)]) -> None:
        raise RuntimeError("upstream down")

    app, record = start_app(make_app, make_settings(), jobs, database)

    async with running(app) as client:
        job_id = await enqueue(client, "sync.pull")
        await record.wait(job_id)

    assert record.steps == ["swallowed"]
    assert "upstream down" in str(record.failures[job_id].error)


async def test_sync_handlers_and_generator_dependencies_run_in_threads(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
) -> None:
    jobs = JobRouter(prefix="files")

    @jobs.job("import")
    def import_file(
        job: Job, record: RecorderDep, handle: Annotated[str, Depends(open_file)]
    ) -> None:
        record.steps.append(f"read {handle} in thread {threading.get_ident()}")

    app, record = start_app(make_app, make_settings(), jobs, database)

    async with running(app) as client:
        job_id = await enqueue(client, "files.import")
        await record.wait(job_id)

    assert record.failures == {}
    assert len(record.steps) == 3
    assert record.steps[0].startswith("open file in thread ")
    assert record.steps[1].startswith("read file in thread ")
    assert record.steps[2] == "close file"
    loop_thread = f"thread {threading.get_ident()}"
    assert not any(step.endswith(loop_thread) for step in record.steps)


async def test_app_dependency_overrides_apply_to_jobs(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
) -> None:
    jobs = JobRouter(prefix="email")

    @jobs.job("send")
    async def send(
        job: Job, record: RecorderDep, mailer: Annotated[str, Depends(get_mailer)]
    ) -> None:
        record.steps.append(f"sent with {mailer}")

    app, record = start_app(make_app, make_settings(), jobs, database)
    app.dependency_overrides[get_mailer] = lambda: "fake mailer"

    async with running(app) as client:
        job_id = await enqueue(client, "email.send")
        await record.wait(job_id)

    assert record.steps == ["sent with fake mailer"]
