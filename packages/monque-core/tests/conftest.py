"""Fixtures for the monque-core tests: instances on the per-test database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from monque import Monque


class MakeMonque(Protocol):
    def __call__(self, **options: Any) -> Monque: ...


@pytest.fixture
async def make_monque(
    database: AsyncDatabase[dict[str, Any]],
) -> AsyncIterator[MakeMonque]:
    """Build instances with test-speed intervals; every one is stopped after."""
    made: list[Monque] = []

    def make(**options: Any) -> Monque:
        options.setdefault("poll_interval", 0.2)
        options.setdefault("base_retry_interval", 0.05)
        options.setdefault("shutdown_timeout", 5.0)
        monque = Monque(database, **options)
        made.append(monque)
        return monque

    yield make
    for monque in made:
        await monque.stop()
