"""Recurring jobs on cron schedules, in a timezone, scheduled on every start-up.

Run it against a replica set: ``MONGODB_URI=mongodb://... python scheduling.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from monque import CronSchedule, InvalidCronError, Job, Monque


async def main(db: AsyncDatabase[dict[str, Any]]) -> None:
    # --8<-- [start:schedule]
    monque = Monque(db)

    @monque.job("report.daily")
    async def daily_report(job: Job) -> None:
        print(f"Report for {job.data['team']}")

    await monque.initialize()

    # Every weekday at 09:00 Berlin time, summer and winter alike.
    job = await monque.schedule(
        "0 9 * * 1-5", "report.daily", {"team": "sales"}, timezone="Europe/Berlin"
    )
    print(f"Next run: {job.next_run_at.isoformat()}")
    # --8<-- [end:schedule]

    # --8<-- [start:startup]
    # Safe on every start-up of every instance: the same name and key make
    # one job. Calling it again with a changed expression updates that job.
    again = await monque.schedule(
        "0 9 * * 1-5", "report.daily", {"team": "sales"}, timezone="Europe/Berlin"
    )
    assert again.id == job.id

    # Several schedules of one job name need a key each.
    await monque.schedule("@hourly", "report.daily", {"team": "ops"}, unique_key="ops")
    await monque.schedule("0 0 1 * *", "report.daily", {"team": "hr"}, unique_key="hr")
    # --8<-- [end:startup]

    # --8<-- [start:preview]
    schedule = CronSchedule.parse("30 2 * * *", "Europe/Berlin")
    # 2:30 does not exist on 29 March 2026 in Berlin: the run moves to 3:00.
    start = dt.datetime(2026, 3, 28, 12, tzinfo=dt.timezone.utc)
    first = schedule.next_after(start)
    second = schedule.next_after(first)
    print(first.isoformat(), second.isoformat())
    assert first == dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.timezone.utc)
    assert second == dt.datetime(2026, 3, 30, 0, 30, tzinfo=dt.timezone.utc)
    # --8<-- [end:preview]

    # --8<-- [start:invalid]
    try:
        await monque.schedule("0 25 * * *", "report.daily")
    except InvalidCronError as exc:
        print(f"Refused: {exc}")
    # --8<-- [end:invalid]


if __name__ == "__main__":

    async def run() -> None:
        uri = os.environ.get("MONGODB_URI", "mongodb://localhost:27017")
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        async with client:
            await main(client["monque_examples"])

    asyncio.run(run())
