"""Enqueueing jobs: delays, priorities, unique keys, batches, typed payloads, sessions.

Run it against a replica set: ``MONGODB_URI=mongodb://... python jobs.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from typing import Any

import anyio
from pydantic import BaseModel
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from monque import Job, JobCompleted, Monque, PayloadValidationError


# --8<-- [start:model]
class Welcome(BaseModel):
    user_id: int
    email: str


# --8<-- [end:model]


async def main(db: AsyncDatabase[dict[str, Any]]) -> None:
    # --8<-- [start:handlers]
    monque = Monque(db, poll_interval=0.2)

    @monque.job("email.welcome", model=Welcome)
    async def send_welcome(job: Job) -> None:
        welcome: Welcome = job.data  # an instance of the model
        print(f"Welcome mail to {welcome.email}")

    @monque.job("report.build", concurrency=2)
    def build_report(job: Job) -> None:  # sync handlers run in a worker thread
        print(f"Building report {job.data['report']}")

    await monque.initialize()
    # --8<-- [end:handlers]

    # --8<-- [start:enqueue]
    # Due now, validated against the model and stored as its JSON dump.
    welcome = await monque.enqueue(
        "email.welcome", {"user_id": 7, "email": "ada@example.com"}
    )

    # Due in ten minutes, or at a given (timezone-aware) time.
    await monque.enqueue("report.build", {"report": "daily"}, delay=600)
    tomorrow = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    await monque.enqueue("report.build", {"report": "weekly"}, run_at=tomorrow)

    # Higher priority runs first among due jobs.
    await monque.enqueue("report.build", {"report": "ceo"}, priority=10)

    # One pending-or-processing job per name and key: the second call returns
    # the first job instead of storing another.
    first = await monque.enqueue(
        "report.build", {"report": "invoice-42"}, unique_key="invoice-42"
    )
    again = await monque.enqueue(
        "report.build", {"report": "invoice-42"}, unique_key="invoice-42"
    )
    assert again.id == first.id

    # Many jobs in one round trip.
    batch = await monque.enqueue_many(
        "report.build", [{"report": f"shard-{n}"} for n in range(3)]
    )
    assert len(batch) == 3
    # --8<-- [end:enqueue]

    # --8<-- [start:invalid]
    try:
        await monque.enqueue("email.welcome", {"user_id": "not a number"})
    except PayloadValidationError as exc:
        print(f"Refused: {exc}")
    # --8<-- [end:invalid]

    # --8<-- [start:transaction]
    client = db.client
    async with client.start_session() as session:

        async def sign_up(session: Any) -> Job:
            result = await db["users"].insert_one(
                {"email": "grace@example.com"}, session=session
            )
            # Stored only if the user is: both commit or neither does.
            return await monque.enqueue(
                "email.welcome",
                {"user_id": 8, "email": "grace@example.com"},
                session=session,
                unique_key=str(result.inserted_id),
            )

        await session.with_transaction(sign_up)
    # --8<-- [end:transaction]

    done = anyio.Event()
    monque.on(
        JobCompleted, lambda event: done.set() if event.job.id == welcome.id else None
    )
    async with monque:
        with anyio.fail_after(10):
            await done.wait()


if __name__ == "__main__":

    async def run() -> None:
        uri = os.environ.get("MONGODB_URI", "mongodb://localhost:27017")
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        async with client:
            await main(client["monque_examples"])

    asyncio.run(run())
