"""Every public call refuses bad input with a clear error and writes nothing."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from monque import (
    InvalidCronError,
    Job,
    JobFilter,
    Monque,
    NotInitializedError,
    PayloadError,
    PayloadTooLargeError,
)

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]
Database = AsyncDatabase[dict[str, Any]]
Call = Callable[[Monque], Awaitable[object]]

NAIVE = dt.datetime(2030, 1, 1)
AWARE = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
OPERATOR: Any = {"$ne": None}

BAD_CALLS: list[tuple[str, Call, type[Exception], str]] = [
    ("empty name", lambda m: m.enqueue(""), ValueError, "empty"),
    ("blank name", lambda m: m.enqueue("   "), ValueError, "empty"),
    ("long name", lambda m: m.enqueue("x" * 201), ValueError, "limit"),
    ("operator name", lambda m: m.enqueue("$where"), ValueError, r"\$"),
    ("dict name", lambda m: m.enqueue(OPERATOR), TypeError, "job name"),
    ("NUL in name", lambda m: m.enqueue("a\x00b"), ValueError, "NUL"),
    ("set payload", lambda m: m.enqueue("a", {1, 2}), PayloadError, "BSON"),
    ("object payload", lambda m: m.enqueue("a", object()), PayloadError, "BSON"),
    (
        "decimal payload",
        lambda m: m.enqueue("a", decimal.Decimal(1)),
        PayloadError,
        "BSON",
    ),
    ("huge int payload", lambda m: m.enqueue("a", 2**70), PayloadError, "BSON"),
    ("operator key", lambda m: m.enqueue("a", OPERATOR), PayloadError, r"\$ne"),
    (
        "oversized payload",
        lambda m: m.enqueue("a", "x" * 5000),
        PayloadTooLargeError,
        "max_payload_size",
    ),
    ("naive run_at", lambda m: m.enqueue("a", run_at=NAIVE), ValueError, "aware"),
    ("text run_at", lambda m: m.enqueue("a", run_at="soon"), TypeError, "run_at"),  # type: ignore[arg-type]
    ("negative delay", lambda m: m.enqueue("a", delay=-1), ValueError, "delay"),
    ("nan delay", lambda m: m.enqueue("a", delay=float("nan")), ValueError, "delay"),
    (
        "run_at and delay",
        lambda m: m.enqueue("a", run_at=AWARE, delay=1),
        ValueError,
        "not both",
    ),
    ("empty key", lambda m: m.enqueue("a", unique_key=""), ValueError, "unique_key"),
    (
        "operator key",
        lambda m: m.enqueue("a", unique_key=OPERATOR),
        ValueError,
        "unique_key",
    ),
    ("float priority", lambda m: m.enqueue("a", priority=0.5), TypeError, "priority"),  # type: ignore[arg-type]
    (
        "negative retries",
        lambda m: m.enqueue("a", max_retries=-1),
        ValueError,
        "max_retries",
    ),
    ("bad session", lambda m: m.enqueue("a", session=object()), TypeError, "session"),  # type: ignore[arg-type]
    (
        "one bad payload of many",
        lambda m: m.enqueue_many("a", [1, 2, {3}]),
        PayloadError,
        "BSON",
    ),
    ("string payloads", lambda m: m.enqueue_many("a", "abc"), TypeError, "iterable"),
    ("bad cron", lambda m: m.schedule("* * *", "a"), InvalidCronError, "5 fields"),
    (
        "bad timezone",
        lambda m: m.schedule("* * * * *", "a", timezone="Moon/Base"),
        InvalidCronError,
        "timezone",
    ),
    ("now with delay", lambda m: m.now("a", delay=1), TypeError, "delay"),
]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        pytest.param(call, error, match, id=label)
        for label, call, error, match in BAD_CALLS
    ],
)
async def test_bad_enqueue_input_is_refused_and_nothing_is_written(
    make_monque: MakeMonque,
    database: Database,
    call: Call,
    error: type[Exception],
    match: str,
) -> None:
    monque = make_monque(max_payload_size=4096)
    await monque.initialize()

    with pytest.raises(error, match=match):
        await call(monque)

    assert await database["monque_jobs"].count_documents({}) == 0


BAD_MANAGEMENT: list[tuple[str, Call, type[Exception], str]] = [
    ("operator name", lambda m: m.get_jobs(name=OPERATOR), TypeError, "job name"),
    ("operator status", lambda m: m.get_jobs(status=OPERATOR), TypeError, "status"),
    ("unknown status", lambda m: m.get_jobs(status="done"), ValueError, "known ones"),
    ("empty statuses", lambda m: m.get_jobs(status=[]), ValueError, "at least one"),
    (
        "operator in statuses",
        lambda m: m.get_jobs(status=["pending", OPERATOR]),
        TypeError,
        "status",
    ),
    (
        "naive time",
        lambda m: m.get_jobs(created_after=NAIVE),
        ValueError,
        "aware",
    ),
    (
        "operator time",
        lambda m: m.get_jobs(next_run_before=OPERATOR),
        TypeError,
        "datetime",
    ),
    (
        "empty range",
        lambda m: m.get_jobs(
            created_after=AWARE,
            created_before=NAIVE.replace(tzinfo=dt.timezone.utc, year=2020),
        ),
        ValueError,
        "empty",
    ),
    ("zero limit", lambda m: m.get_jobs(limit=0), ValueError, "limit"),
    ("negative limit", lambda m: m.get_jobs(limit=-5), ValueError, "limit"),
    ("huge limit", lambda m: m.get_jobs(limit=10_000), ValueError, "limit"),
    ("text limit", lambda m: m.get_jobs(limit="10"), TypeError, "limit"),  # type: ignore[arg-type]
    ("forged cursor", lambda m: m.get_jobs(cursor="a$gt"), ValueError, "cursor"),
    ("dict cursor", lambda m: m.get_jobs(cursor=OPERATOR), TypeError, "cursor"),
    ("operator id", lambda m: m.cancel_job(OPERATOR), TypeError, "job id"),
    ("short id", lambda m: m.retry_job("abc"), ValueError, "job id"),
    (
        "reschedule without time",
        lambda m: m.reschedule_job(str(ObjectId())),
        ValueError,
        "run_at or delay",
    ),
    (
        "reschedule naive",
        lambda m: m.reschedule_job(str(ObjectId()), run_at=NAIVE),
        ValueError,
        "aware",
    ),
    ("bulk with one bad id", lambda m: m.delete_jobs(["x"]), ValueError, "job id"),
    ("bulk with a mapping", lambda m: m.delete_jobs(OPERATOR), TypeError, "job ids"),
    (
        "negative purge age",
        lambda m: m.purge(completed_older_than=-1),
        ValueError,
        "completed_older_than",
    ),
    ("stats name", lambda m: m.get_queue_stats(name=OPERATOR), TypeError, "job name"),
]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        pytest.param(call, error, match, id=label)
        for label, call, error, match in BAD_MANAGEMENT
    ],
)
async def test_bad_management_input_is_refused_and_nothing_changes(
    make_monque: MakeMonque,
    database: Database,
    call: Call,
    error: type[Exception],
    match: str,
) -> None:
    monque = make_monque()
    await monque.initialize()
    job = await monque.enqueue("keep", {"v": 1})
    before = await database["monque_jobs"].find_one({})

    with pytest.raises(error, match=match):
        await call(monque)

    assert await database["monque_jobs"].find({}).to_list() == [before]
    assert (await monque.get_job(job.id)) == job


async def test_calls_before_initialize_are_refused(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()
    calls: list[Call] = [
        lambda m: m.enqueue("a"),
        lambda m: m.enqueue_many("a", [1]),
        lambda m: m.schedule("* * * * *", "a"),
        lambda m: m.get_jobs(),
        lambda m: m.cancel_job(str(ObjectId())),
        lambda m: m.cancel_jobs(JobFilter()),
        lambda m: m.get_queue_stats(),
        lambda m: m.purge(),
    ]

    for call in calls:
        with pytest.raises(NotInitializedError):
            await call(monque)

    assert await database["monque_jobs"].count_documents({}) == 0


async def test_bad_retention_options_are_refused(make_monque: MakeMonque) -> None:
    with pytest.raises(ValueError, match="completed_retention"):
        make_monque(completed_retention=0)

    with pytest.raises(TypeError, match="failed_retention"):
        make_monque(failed_retention="1d")

    with pytest.raises(ValueError, match="cleanup_interval"):
        make_monque(cleanup_interval=-1)


async def test_bad_handler_models_are_refused(make_monque: MakeMonque) -> None:
    monque = make_monque()

    async def handler(job: Job) -> None:
        pass

    with pytest.raises(TypeError, match="model"):
        monque.register("a", handler, model=dict)

    assert monque.handlers == {}
