"""Fixtures for the monque-fastapi tests: settings, apps and their HTTP clients."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import Body, FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from monque import Monque
from monque_fastapi import (
    AppLifespan,
    JobRouter,
    MonqueDep,
    MonqueSettings,
    monque_lifespan,
)

SettingsFactory = Callable[..., MonqueSettings]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep MONQUE_* variables of the developer's shell out of the settings."""
    for name in list(os.environ):
        if name.upper().startswith("MONQUE_"):
            monkeypatch.delenv(name)

    yield


@pytest.fixture
def make_settings() -> SettingsFactory:
    """Settings with short intervals, so that tests finish quickly."""

    def make(**overrides: Any) -> MonqueSettings:
        options: dict[str, Any] = {
            "poll_interval": 0.05,
            "heartbeat_interval": 0.5,
            "lock_timeout": 10.0,
            "shutdown_timeout": 5.0,
            "base_retry_interval": 0.05,
        }
        options.update(overrides)
        return MonqueSettings(**options)

    return make


def build_app(
    settings: MonqueSettings,
    *routers: JobRouter,
    db: AsyncDatabase[Any] | None = None,
    lifespan: AppLifespan | None = None,
) -> FastAPI:
    """An app with the monque lifespan and a route that enqueues any job."""
    app = FastAPI(
        lifespan=monque_lifespan(settings, *routers, db=db, lifespan=lifespan)
    )

    @app.post("/jobs/{name}")
    async def enqueue(
        name: str,
        monque: MonqueDep,
        data: dict[str, Any] = Body(default_factory=dict),  # noqa: B008
    ) -> dict[str, str]:
        job = await monque.enqueue(name, data)
        return {"id": job.id}

    return app


AppFactory = Callable[..., FastAPI]


@pytest.fixture
def make_app() -> AppFactory:
    return build_app


Running = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def running() -> Running:
    """Run an app's real lifespan and give an HTTP client that talks to it."""

    @contextlib.asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
        async with (
            LifespanManager(app, startup_timeout=15, shutdown_timeout=15) as manager,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app),
                base_url="http://testserver",
            ) as client,
        ):
            yield client

    return run


def app_monque(app: FastAPI) -> Monque:
    monque = app.state.monque
    assert isinstance(monque, Monque)
    return monque


@pytest.fixture
def monque_of() -> Callable[[FastAPI], Monque]:
    """The `Monque` instance a running app holds."""
    return app_monque
