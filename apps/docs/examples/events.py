"""Events and logging: subscribe to the life cycle, and log with structured fields.

Run it against a replica set: ``MONGODB_URI=mongodb://... python events.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from typing import Any

import anyio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from monque import (
    Event,
    Job,
    JobCompleted,
    JobFailed,
    JobStarted,
    Monque,
    NonRetryableError,
)


# --8<-- [start:logging]
class ActionFormatter(logging.Formatter):
    """Append the structured fields monque puts on each record."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {
            key: getattr(record, key)
            for key in ("action", "job_id", "job_name")
            if hasattr(record, key)
        }
        return f"{line} {fields}" if fields else line


# --8<-- [end:logging]


async def main(db: AsyncDatabase[dict[str, Any]]) -> None:
    monque = Monque(db, poll_interval=0.1)

    @monque.job("invoice.send")
    async def send(job: Job) -> None:
        if job.data["to"] == "nobody":
            raise NonRetryableError("no recipient")

    # --8<-- [start:subscribe]
    counts: Counter[str] = Counter()
    durations: list[float] = []
    failed = anyio.Event()
    completed = anyio.Event()

    def count(event: Event) -> None:
        # Subscribing to Event receives every event.
        counts[type(event).__name__] += 1

    def on_completed(event: JobCompleted) -> None:
        durations.append(event.duration)
        completed.set()

    def on_failed(event: JobFailed) -> None:
        print(f"{event.job.name} failed: {event.error}; retry: {event.will_retry}")
        failed.set()

    monque.on(Event, count)
    monque.on(JobCompleted, on_completed)
    monque.on(JobFailed, on_failed)
    stop_watching_starts = monque.on(JobStarted, lambda event: None)
    stop_watching_starts()  # the returned function unsubscribes
    # --8<-- [end:subscribe]

    handler = logging.StreamHandler()
    handler.setFormatter(ActionFormatter("%(levelname)s %(name)s: %(message)s"))
    library = logging.getLogger("monque")
    library.addHandler(handler)
    library.setLevel(logging.INFO)
    try:
        async with monque:
            await monque.enqueue("invoice.send", {"to": "ada@example.com"})
            await monque.enqueue("invoice.send", {"to": "nobody"})
            with anyio.fail_after(10):
                await failed.wait()
                await completed.wait()
    finally:
        library.removeHandler(handler)
        library.setLevel(logging.NOTSET)

    print(dict(counts))
    assert counts["JobEnqueued"] == 2
    assert counts["JobStarted"] == 2
    assert counts["JobCompleted"] == 1
    assert counts["JobFailed"] == 1


if __name__ == "__main__":

    async def run() -> None:
        uri = os.environ.get("MONGODB_URI", "mongodb://localhost:27017")
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        async with client:
            await main(client["monque_examples"])

    asyncio.run(run())
