"""Every option is checked at construction, with an error that names it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient

from monque import Monque
from monque._options import MonqueOptions

pytestmark = pytest.mark.anyio


@pytest.fixture
async def offline_db() -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        "mongodb://127.0.0.1:1", serverSelectionTimeoutMS=100
    )
    yield client["offline"]
    await client.close()


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("max_concurrency", 0, ValueError),
        ("max_concurrency", -3, ValueError),
        ("max_concurrency", 2.5, TypeError),
        ("max_concurrency", True, TypeError),
        ("worker_concurrency", 0, ValueError),
        ("worker_concurrency", "5", TypeError),
        ("poll_interval", 0, ValueError),
        ("poll_interval", -1.0, ValueError),
        ("poll_interval", float("nan"), ValueError),
        ("poll_interval", "1s", TypeError),
        ("max_retries", -1, ValueError),
        ("max_retries", 1.5, TypeError),
        ("base_retry_interval", 0.0, ValueError),
        ("max_backoff", float("inf"), ValueError),
        ("shutdown_timeout", 0, ValueError),
        ("heartbeat_interval", 0, ValueError),
        ("lock_timeout", None, TypeError),
        ("stale_check_interval", -5, ValueError),
        ("max_recoveries", -1, ValueError),
        ("max_payload_size", 0, ValueError),
        ("collection_name", "", ValueError),
        ("collection_name", "$jobs", ValueError),
        ("collection_name", 42, TypeError),
        ("instance_id", 7, TypeError),
        ("create_indexes", "yes", TypeError),
        ("ack_window", 0, ValueError),
        ("ack_window", -0.01, ValueError),
        ("ack_window", "5ms", TypeError),
    ],
)
async def test_bad_option_is_refused_by_name(
    offline_db: Any, option: str, value: object, error: type[Exception]
) -> None:
    with pytest.raises(error, match=option):
        options: dict[str, Any] = {option: value}
        Monque(offline_db, **options)


async def test_lock_timeout_must_exceed_heartbeat_interval(offline_db: Any) -> None:
    with pytest.raises(ValueError, match="lock_timeout"):
        Monque(offline_db, heartbeat_interval=10.0, lock_timeout=5.0)


async def test_options_are_keyword_only(offline_db: Any) -> None:
    with pytest.raises(TypeError):
        Monque(offline_db, "jobs")  # type: ignore[call-arg]


def test_db_must_be_an_async_database() -> None:
    with pytest.raises(TypeError, match=r"AsyncDatabase.*not builtins.object"):
        Monque(object())  # type: ignore[arg-type]


def test_a_sync_database_is_refused_with_the_async_client_named() -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(connect=False)
    try:
        with pytest.raises(TypeError, match="AsyncMongoClient instead of MongoClient"):
            Monque(client["app"])  # type: ignore[arg-type]
    finally:
        client.close()


def test_a_motor_database_is_refused_with_the_way_to_migrate() -> None:
    motor_database = type("AsyncIOMotorDatabase", (), {"__module__": "motor.core"})
    with pytest.raises(TypeError, match=r"Motor is deprecated.*AsyncMongoClient"):
        Monque(motor_database())


async def test_valid_options_are_kept(offline_db: Any) -> None:
    monque = Monque(
        offline_db,
        max_concurrency=3,
        worker_concurrency=2,
        poll_interval=0.5,
        lock_timeout=12,
        instance_id="node-1",
    )

    assert monque.options.max_concurrency == 3
    assert monque.options.poll_interval == 0.5
    assert monque.options.lock_timeout == 12.0
    assert monque.options.sweep_interval == 6.0
    assert monque.instance_id == "node-1"


def test_default_instance_ids_are_unique() -> None:
    assert MonqueOptions().instance_id != MonqueOptions().instance_id


async def test_ack_window_can_be_turned_off(offline_db: Any) -> None:
    assert Monque(offline_db).options.ack_window == 0.005
    assert Monque(offline_db, ack_window=None).options.ack_window is None
