"""The lifespan: start-up order and failures, shutdown order, the client it owns."""

from __future__ import annotations

import contextlib
import gc
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import InvalidOperation

from monque import DatabaseError, DuplicateHandlerError, Job, JobStatus, Monque
from monque_fastapi import JobRouter, MonqueSettings
from testserver import find_free_port

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

SettingsFactory = Callable[..., MonqueSettings]
AppFactory = Callable[..., FastAPI]
Running = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]
MonqueOf = Callable[[FastAPI], Monque]


async def test_malformed_uri_fails_startup_with_a_clear_error(
    make_settings: SettingsFactory, make_app: AppFactory, running: Running
) -> None:
    app = make_app(make_settings(mongodb_uri="postgres://db.example:5432"))

    with pytest.raises(
        ValueError, match=r"MONQUE_MONGODB_URI\) is not usable: Invalid URI"
    ):
        async with running(app):
            pytest.fail("the app started")


async def test_unreachable_server_fails_startup_with_a_clear_error(
    make_settings: SettingsFactory, make_app: AppFactory, running: Running
) -> None:
    uri = f"mongodb://127.0.0.1:{find_free_port()}/?serverSelectionTimeoutMS=200"
    app = make_app(make_settings(mongodb_uri=uri))

    # pymongo leaves the socket of a refused connection to the garbage
    # collector; collect it here, quietly, rather than in a later test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with pytest.raises(DatabaseError, match="could not reach MongoDB"):
            async with running(app):
                pytest.fail("the app started")

        gc.collect()


async def test_duplicate_job_names_across_routers_fail_startup(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
) -> None:
    first, second = JobRouter(prefix="email"), JobRouter(prefix="email")
    for router in (first, second):

        @router.job("send")
        async def send(job: Job) -> None:
            pass

    app = make_app(make_settings(), first, second, db=database)

    with pytest.raises(DuplicateHandlerError, match=r"'email\.send'.*two job routers"):
        async with running(app):
            pytest.fail("the app started")

    assert not hasattr(app.state, "monque")


async def test_app_lifespan_runs_inside_the_scheduler_lifespan(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
    monque_of: MonqueOf,
) -> None:
    steps: list[str] = []
    ran = anyio.Event()
    jobs = JobRouter(prefix="orders")

    @jobs.job("ship")
    async def ship(job: Job) -> None:
        steps.append("job")
        ran.set()

    @contextlib.asynccontextmanager
    async def own_lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        monque = monque_of(app)
        # The scheduler is initialized, so start-up code can enqueue ...
        await monque.enqueue("orders.ship", {"order": 1})
        # ... but it does not process before the app's resources exist.
        assert not monque.is_healthy()
        steps.append("app startup")
        yield {"greeting": "hello"}
        # Processing stopped before the app's resources are torn down.
        assert not monque.is_healthy()
        steps.append("app shutdown")

    app = make_app(make_settings(), jobs, db=database, lifespan=own_lifespan)

    async with running(app) as client:
        with anyio.fail_after(10):
            await ran.wait()

        assert monque_of(app).is_healthy()
        response = await client.post("/jobs/orders.ship")
        assert response.status_code == 200

    assert steps[:2] == ["app startup", "job"]
    assert steps[-1] == "app shutdown"
    assert not hasattr(app.state, "monque")


async def test_shutdown_waits_for_running_jobs(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
    monque_of: MonqueOf,
) -> None:
    started = anyio.Event()
    finished: list[str] = []
    jobs = JobRouter(prefix="reports")

    @jobs.job("build")
    async def build(job: Job) -> None:
        started.set()
        await anyio.sleep(0.3)
        finished.append(job.id)

    app = make_app(make_settings(shutdown_timeout=10), jobs, db=database)

    async with running(app) as client:
        monque = monque_of(app)
        job_id = (await client.post("/jobs/reports.build")).json()["id"]
        with anyio.fail_after(10):
            await started.wait()

    assert finished == [job_id]
    job = await monque.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.COMPLETED


async def test_lifespan_closes_the_client_it_created(
    mongo_uri: str,
    mongo_client: AsyncMongoClient[dict[str, Any]],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
    monque_of: MonqueOf,
) -> None:
    name = f"monque_test_{uuid.uuid4().hex[:12]}"
    app = make_app(make_settings(mongodb_uri=mongo_uri, database=name))
    try:
        async with running(app) as client:
            monque = monque_of(app)
            assert monque.db.name == name
            response = await client.post("/jobs/anything")
            assert response.status_code == 200

        with pytest.raises(InvalidOperation):
            await monque.db.command("ping")
    finally:
        await mongo_client.drop_database(name)


async def test_a_given_database_or_factory_is_used_and_left_open(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    running: Running,
    monque_of: MonqueOf,
    make_app: AppFactory,
) -> None:
    async def open_database() -> AsyncDatabase[Any]:
        return database

    for source in (database, open_database):
        app = make_app(make_settings(), db=source)
        async with running(app):
            assert monque_of(app).db is database

        await database.command("ping")


async def test_failing_app_lifespan_fails_startup_and_starts_no_processing(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
) -> None:
    seen: list[Monque] = []

    def connect_cache() -> None:
        raise RuntimeError("cache unavailable")

    @contextlib.asynccontextmanager
    async def own_lifespan(app: FastAPI) -> AsyncIterator[None]:
        seen.append(app.state.monque)
        connect_cache()
        yield

    app = make_app(make_settings(), db=database, lifespan=own_lifespan)

    with pytest.raises(RuntimeError, match="cache unavailable"):
        async with running(app):
            pytest.fail("the app started")

    assert len(seen) == 1
    assert not seen[0].is_healthy()
    assert not hasattr(app.state, "monque")
