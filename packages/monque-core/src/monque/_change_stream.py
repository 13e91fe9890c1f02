"""Change-stream wakeups: workers hear of new and retried jobs as they happen."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import anyio
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure, PyMongoError

from ._events import ChangeStreamConnected, ChangeStreamFallback, EventBus

__all__ = ["ChangeStreamWatcher", "is_unsupported"]

logger = logging.getLogger("monque.change_stream")

# Server answers that mean "this deployment has no change streams at all".
_UNSUPPORTED_CODES = frozenset({40573, 136, 40324})
# Answers that mean the resume token is too old to resume from.
_HISTORY_LOST = frozenset({280, 286})

Document = dict[str, Any]
Notify = Callable[[str, Any], None]

PIPELINE: list[Document] = [
    {
        "$match": {
            "$or": [
                {"operationType": "insert", "fullDocument.status": "pending"},
                {
                    "operationType": "update",
                    "updateDescription.updatedFields.status": "pending",
                },
                {
                    "operationType": "update",
                    "updateDescription.updatedFields.nextRunAt": {"$exists": True},
                },
            ]
        }
    },
    {
        "$project": {
            "operationType": 1,
            "fullDocument.name": 1,
            "fullDocument.status": 1,
            "fullDocument.nextRunAt": 1,
        }
    },
]


def is_unsupported(exc: BaseException) -> bool:
    """Whether `exc` says the server cannot open change streams at all."""
    if not isinstance(exc, OperationFailure):
        return False

    if exc.code in _UNSUPPORTED_CODES:
        return True

    message = str(exc).lower()
    return "replica set" in message or "not supported" in message


class ChangeStreamWatcher:
    """Watches the jobs collection and tells workers when a job becomes due.

    After a transient error the stream resumes from the last token it saw,
    with a growing pause between attempts. On a server without change streams
    (a standalone `mongod`), it reports the fallback once and ends: polling at
    `poll_interval` then carries the work alone.

    Args:
        collection: The jobs collection.
        notify: Called with a job's name and its due time for each change.
        events: Where the connected and fallback events go.
    """

    def __init__(
        self,
        collection: AsyncCollection[Document],
        *,
        notify: Notify,
        events: EventBus,
    ) -> None:
        self.collection = collection
        self.notify = notify
        self.events = events
        self.resume_token: Mapping[str, Any] | None = None
        self.connected = False
        self.fallback_reason: str | None = None
        self._failures = 0

    async def run(self) -> None:
        """Watch until cancelled, or until the server proves it has no streams."""
        self._failures = 0
        while True:
            try:
                await self._watch()
            except PyMongoError as exc:  # noqa: PERF203 - the loop reconnects
                self.connected = False
                if is_unsupported(exc):
                    self._fall_back(exc)
                    return

                if isinstance(exc, OperationFailure) and exc.code in _HISTORY_LOST:
                    # The token fell off the oplog: start from now. Jobs that
                    # became due meanwhile are found by the next poll.
                    self.resume_token = None

                await self._pause(exc)
            except Exception as exc:
                # Not the server's doing: report it in full, and keep watching,
                # since polling alone would serve the workers more slowly.
                logger.exception(
                    "Change stream failed unexpectedly",
                    extra={"action": "change_stream_retry"},
                )
                self.connected = False
                await self._pause(exc)
            else:
                self._failures = 0

    async def _pause(self, exc: Exception) -> None:
        self._failures += 1
        pause = min(0.1 * 2**self._failures, 30.0)
        logger.warning(
            "Change stream interrupted (%s); reopening in %.1f s",
            exc,
            pause,
            extra={"action": "change_stream_retry"},
        )
        await anyio.sleep(pause)

    async def _watch(self) -> None:
        stream = await self.collection.watch(
            PIPELINE, full_document="updateLookup", resume_after=self.resume_token
        )
        async with stream:
            # Open again: the next interruption starts the pauses afresh.
            self._failures = 0
            if not self.connected:
                self.connected = True
                logger.info(
                    "Change stream open on %s",
                    self.collection.name,
                    extra={"action": "change_stream_open"},
                )
                self.events.emit(ChangeStreamConnected())

            async for change in stream:
                self.resume_token = stream.resume_token
                job = change.get("fullDocument") or {}
                name = job.get("name")
                if isinstance(name, str) and job.get("status") == "pending":
                    self.notify(name, job.get("nextRunAt"))

    def _fall_back(self, exc: BaseException) -> None:
        self.fallback_reason = str(exc)
        logger.warning(
            "Change streams are not available (%s); polling only",
            exc,
            extra={"action": "change_stream_fallback"},
        )
        self.events.emit(ChangeStreamFallback(self.fallback_reason))
