"""The health route: `Monque.is_healthy()` and a database ping, as a probe."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect

from monque import Monque
from monque_fastapi import MonqueSettings, health_router

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

SettingsFactory = Callable[..., MonqueSettings]
AppFactory = Callable[..., FastAPI]
Running = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]
MonqueOf = Callable[[FastAPI], Monque]


class UnreachableDatabase:
    async def command(self, name: str) -> dict[str, Any]:
        raise AutoReconnect("connection refused")


async def test_processing_node_is_healthy_while_running(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
) -> None:
    app = make_app(make_settings(), db=database)
    app.include_router(health_router())

    async with running(app) as client:
        response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "scheduler_healthy": True,
        "database_reachable": True,
        "job_processing_enabled": True,
    }


async def test_producer_only_node_is_healthy_though_not_processing(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
) -> None:
    app = make_app(make_settings(disable_job_processing=True), db=database)
    app.include_router(health_router(path="/health/jobs"))

    async with running(app) as client:
        response = await client.get("/health/jobs")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "scheduler_healthy": False,
        "database_reachable": True,
        "job_processing_enabled": False,
    }


async def test_unhealthy_when_the_database_does_not_answer(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
    monque_of: MonqueOf,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_app(make_settings(), db=database)
    app.include_router(health_router())

    async with running(app) as client:
        monkeypatch.setattr(monque_of(app), "db", UnreachableDatabase())
        response = await client.get("/health")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["database_reachable"] is False
    assert response.json()["scheduler_healthy"] is True


async def test_unhealthy_when_processing_stopped(
    database: AsyncDatabase[Any],
    make_settings: SettingsFactory,
    make_app: AppFactory,
    running: Running,
    monque_of: MonqueOf,
) -> None:
    app = make_app(make_settings(), db=database)
    app.include_router(health_router())

    async with running(app) as client:
        await monque_of(app).stop()
        response = await client.get("/health")

    assert response.status_code == 503
    assert response.json()["scheduler_healthy"] is False
    assert response.json()["database_reachable"] is True
