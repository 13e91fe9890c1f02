"""Recurring jobs: one document per schedule that returns to pending after each run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from monque import (
    CronSchedule,
    InvalidCronError,
    Job,
    JobCompleted,
    JobScheduleUpdated,
    JobStarted,
    JobStatus,
    Monque,
)

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]
Database = AsyncDatabase[dict[str, Any]]


async def test_schedule_stores_one_pending_document(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()
    await monque.initialize()
    before = dt.datetime.now(dt.timezone.utc)

    job = await monque.schedule(
        "0 9 * * *", "report", {"team": "a"}, timezone="Europe/Berlin"
    )

    raw = await database["monque_jobs"].find_one({"_id": ObjectId(job.id)})
    assert raw is not None
    assert raw["status"] == "pending"
    assert raw["repeatInterval"] == "0 9 * * *"
    assert raw["timezone"] == "Europe/Berlin"
    assert raw["uniqueKey"] == "cron"
    assert raw["data"] == {"team": "a"}
    expected = CronSchedule.parse("0 9 * * *", "Europe/Berlin").next_after(before)
    assert raw["nextRunAt"] == expected
    assert job.is_recurring
    assert job.timezone == "Europe/Berlin"


async def test_every_start_up_of_every_instance_keeps_one_document(
    make_monque: MakeMonque, database: Database
) -> None:
    instances = [make_monque() for _ in range(4)]
    for monque in instances:
        await monque.initialize()

    jobs: list[Job] = []

    async def start_up(monque: Monque) -> None:
        jobs.append(await monque.schedule("*/5 * * * *", "sync"))

    for _ in range(3):
        async with anyio.create_task_group() as group:
            for monque in instances:
                group.start_soon(start_up, monque)

    assert len(jobs) == 12
    assert len({job.id for job in jobs}) == 1
    assert await database["monque_jobs"].count_documents({}) == 1


async def test_separate_keys_make_separate_schedules(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()
    await monque.initialize()

    first = await monque.schedule("0 * * * *", "report", unique_key="team-a")
    second = await monque.schedule("0 0 * * *", "report", unique_key="team-b")

    assert first.id != second.id
    assert await database["monque_jobs"].count_documents({}) == 2


async def test_scheduling_again_with_a_new_expression_updates_the_job(
    make_monque: MakeMonque,
) -> None:
    monque = make_monque()
    await monque.initialize()
    updates: list[JobScheduleUpdated] = []
    monque.on(JobScheduleUpdated, updates.append)
    first = await monque.schedule("0 9 * * *", "report", {"v": 1})

    same = await monque.schedule("0 9 * * *", "report", {"v": 1})
    assert same.next_run_at == first.next_run_at
    assert updates == []

    moved = await monque.schedule("30 9 * * *", "report", {"v": 2}, timezone="UTC")

    assert moved.id == first.id
    assert moved.repeat_interval == "30 9 * * *"
    assert moved.data == {"v": 2}
    assert moved.next_run_at == first.next_run_at + dt.timedelta(minutes=30)
    assert [event.job.id for event in updates] == [first.id]


async def test_recurring_job_returns_to_pending_at_its_next_tick(
    make_monque: MakeMonque,
) -> None:
    monque = make_monque()
    completed = anyio.Event()
    runs: list[Job] = []

    @monque.job("tick")
    async def tick(job: Job) -> None:
        runs.append(job)

    monque.on(JobCompleted, lambda event: completed.set())
    await monque.initialize()
    job = await monque.schedule("* * * * *", "tick")
    await monque.reschedule_job(job.id, run_at=dt.datetime.now(dt.timezone.utc))

    async with monque:
        with anyio.fail_after(10):
            await completed.wait()

    after = await monque.get_job(job.id)
    assert after is not None
    assert after.status is JobStatus.PENDING
    assert after.fail_count == 0
    assert after.claimed_by is None
    now = dt.datetime.now(dt.timezone.utc)
    assert now < after.next_run_at <= now + dt.timedelta(minutes=1)
    assert after.next_run_at.second == 0
    assert len(runs) == 1


async def test_a_completed_run_clears_the_recovery_count(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque(max_recoveries=2)
    completed = anyio.Event()

    @monque.job("tick")
    async def tick(job: Job) -> None:
        pass

    monque.on(JobCompleted, lambda event: completed.set())
    await monque.initialize()
    job = await monque.schedule("* * * * *", "tick")
    # As if crashed workers had left it twice before this run.
    await database["monque_jobs"].update_one(
        {"_id": ObjectId(job.id)},
        {"$set": {"recoveryCount": 2, "nextRunAt": dt.datetime.now(dt.timezone.utc)}},
    )
    async with monque:
        with anyio.fail_after(10):
            await completed.wait()

    after = await monque.get_job(job.id)
    assert after is not None
    assert after.status is JobStatus.PENDING
    assert after.recovery_count == 0


async def test_missed_ticks_run_once(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()
    started: list[JobStarted] = []
    completed = anyio.Event()

    @monque.job("digest")
    async def digest(job: Job) -> None:
        pass

    monque.on(JobStarted, started.append)
    monque.on(JobCompleted, lambda event: completed.set())
    await monque.initialize()
    job = await monque.schedule("*/5 * * * *", "digest")
    # Every worker was down for an hour: twelve ticks were missed.
    an_hour_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    await database["monque_jobs"].update_one(
        {"_id": ObjectId(job.id)}, {"$set": {"nextRunAt": an_hour_ago}}
    )

    async with monque:
        with anyio.fail_after(10):
            await completed.wait()

        after = await monque.get_job(job.id)

    assert len(started) == 1
    assert after is not None
    assert after.status is JobStatus.PENDING
    # Due at the next tick from now, not at the first missed one.
    now = dt.datetime.now(dt.timezone.utc)
    assert now < after.next_run_at <= now + dt.timedelta(minutes=5)


async def test_invalid_schedules_write_nothing(
    make_monque: MakeMonque, database: Database
) -> None:
    monque = make_monque()
    await monque.initialize()

    with pytest.raises(InvalidCronError):
        await monque.schedule("61 * * * *", "report")

    with pytest.raises(InvalidCronError, match="timezone"):
        await monque.schedule("0 9 * * *", "report", timezone="Europe/Nowhere")

    with pytest.raises(TypeError):
        await monque.schedule({"$gt": ""}, "report")  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="job name"):
        await monque.schedule("0 9 * * *", "")

    assert await database["monque_jobs"].count_documents({}) == 0
