"""Registering handlers: names, duplicates, replacement and the decorator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from monque import DuplicateHandlerError, Job, Monque

pytestmark = pytest.mark.anyio


@pytest.fixture
async def monque() -> AsyncIterator[Monque]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        "mongodb://127.0.0.1:1", serverSelectionTimeoutMS=100
    )
    yield Monque(client["offline"], worker_concurrency=3)
    await client.close()


async def handler(job: Job) -> None:
    return None


def sync_handler(job: Job) -> None:
    return None


async def test_decorator_registers_and_returns_the_function(monque: Monque) -> None:
    @monque.job("email.send", concurrency=2, max_retries=1, timeout=5)
    async def send(job: Job) -> None:
        return None

    spec = monque.handlers["email.send"]
    assert spec.func is send
    assert spec.concurrency == 2
    assert spec.max_retries == 1
    assert spec.timeout == 5.0
    assert spec.is_async


async def test_default_concurrency_comes_from_worker_concurrency(
    monque: Monque,
) -> None:
    monque.register("report", sync_handler)

    assert monque.handlers["report"].concurrency == 3
    assert not monque.handlers["report"].is_async


async def test_duplicate_name_is_an_error_unless_replaced(monque: Monque) -> None:
    monque.register("email.send", handler)

    with pytest.raises(DuplicateHandlerError, match=r"email\.send"):
        monque.register("email.send", sync_handler)

    monque.register("email.send", sync_handler, replace=True)
    assert monque.handlers["email.send"].func is sync_handler


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", ValueError),
        ("   ", ValueError),
        (" padded", ValueError),
        ("$where", ValueError),
        ("x" * 201, ValueError),
        (None, TypeError),
        (42, TypeError),
    ],
)
async def test_bad_job_name_is_refused(
    monque: Monque, name: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match="job name"):
        monque.register(name, handler)

    assert monque.handlers == {}


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"timeout": -1}, "timeout"),
        ({"max_retries": -2}, "max_retries"),
    ],
)
async def test_bad_handler_option_is_refused(
    monque: Monque, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        monque.register("job", handler, **options)


async def test_handler_must_be_callable(monque: Monque) -> None:
    with pytest.raises(TypeError, match="callable"):
        monque.register("job", "not a function")  # type: ignore[arg-type]
