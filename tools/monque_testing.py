"""Helpers shared by the monque test suites: waiting on state and on events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from monque import Event, Job, Monque

__all__ = ["on_event", "raw", "record", "until"]


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll until `check` holds, failing the test after 30 seconds.

    For state that no event announces, such as a document written by another
    process.
    """
    with anyio.fail_after(30):
        while True:
            if await check():
                return

            await anyio.sleep(0.05)


def record(monque: Monque) -> list[Event]:
    """Return a list that collects every event of `monque` from now on."""
    seen: list[Event] = []
    monque.on(Event, seen.append)
    return seen


def on_event(monque: Monque, event_type: type[Event]) -> anyio.Event:
    """Return an event that is set once `monque` emits an `event_type`."""
    seen = anyio.Event()
    monque.on(event_type, lambda event: seen.set())
    return seen


async def raw(database: AsyncDatabase[dict[str, Any]], job: Job) -> dict[str, Any]:
    """Return the stored document of `job` in the default jobs collection."""
    doc = await database["monque_jobs"].find_one({"_id": ObjectId(job.id)})
    assert doc is not None
    return doc
