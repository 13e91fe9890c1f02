"""Cron jobs declared on job routers are scheduled by a processing app.

Most tests stand in a subclass of `Monque` whose `schedule` records its calls, to
check exactly what the integration asks of the core; one runs the real thing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

import monque_fastapi._lifespan
from monque import Job, Monque, MonqueError
from monque_fastapi import JobRouter, MonqueSettings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

SettingsFactory = Callable[..., MonqueSettings]
AppFactory = Callable[..., FastAPI]
Running = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]
MonqueOf = Callable[[FastAPI], Monque]


def reports_router() -> JobRouter:
    reports = JobRouter(prefix="reports")

    @reports.cron("*/5 * * * *", timezone="Europe/Paris")
    async def digest(job: Job) -> None:
        pass

    @reports.cron("@daily", name="cleanup", unique_key="cleanup-v2", data={"days": 7})
    async def remove_old(job: Job) -> None:
        pass

    return reports


@pytest.fixture
def scheduled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []

    async def schedule(
        self: Monque,
        cron: str,
        name: str,
        data: Any = None,
        *,
        unique_key: str | None = None,
        timezone: str = "UTC",
    ) -> None:
        assert self.handlers[name].name == name  # registered before scheduling
        calls.append((cron, name, data, unique_key, timezone))

    class SchedulingMonque(Monque):
        pass

    monkeypatch.setattr(SchedulingMonque, "schedule", schedule, raising=False)
    monkeypatch.setattr(monque_fastapi._lifespan, "Monque", SchedulingMonque)
    return calls


async def test_processing_app_schedules_router_cron_jobs(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
    monque_of: MonqueOf,
    scheduled: list[tuple[Any, ...]],
) -> None:
    app = make_app(make_settings(), reports_router(), db=database)

    async with running(app):
        assert sorted(monque_of(app).handlers) == ["reports.cleanup", "reports.digest"]

    assert scheduled == [
        ("*/5 * * * *", "reports.digest", None, None, "Europe/Paris"),
        ("@daily", "reports.cleanup", {"days": 7}, "cleanup-v2", "UTC"),
    ]


async def test_producer_only_app_schedules_nothing(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
    scheduled: list[tuple[Any, ...]],
) -> None:
    settings = make_settings(disable_job_processing=True)
    app = make_app(settings, reports_router(), db=database)

    async with running(app):
        pass

    assert scheduled == []


async def test_cron_jobs_without_core_support_fail_startup_clearly(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class OlderMonque(Monque):
        pass

    monkeypatch.setattr(OlderMonque, "schedule", None, raising=False)
    monkeypatch.setattr(monque_fastapi._lifespan, "Monque", OlderMonque)
    app = make_app(make_settings(), reports_router(), db=database)

    with pytest.raises(MonqueError, match=r"need Monque\.schedule\(\)"):
        async with running(app):
            pytest.fail("the app started")


async def test_every_processing_instance_keeps_one_recurring_job_per_cron(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
) -> None:
    settings = make_settings()
    first = make_app(settings, reports_router(), db=database)
    second = make_app(settings, reports_router(), db=database)

    async with running(first), running(second):
        pass

    jobs = database[settings.collection_name]
    digests = await jobs.find({"name": "reports.digest"}).to_list()
    assert len(digests) == 1
    assert digests[0]["status"] == "pending"
    assert digests[0]["repeatInterval"] == "*/5 * * * *"
    assert digests[0]["timezone"] == "Europe/Paris"
    cleanup = await jobs.find_one({"name": "reports.cleanup"})
    assert cleanup is not None
    assert cleanup["data"] == {"days": 7}
    assert cleanup["uniqueKey"] == "cleanup-v2"
