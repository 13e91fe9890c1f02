"""Batched acknowledgements: outcome writes collected briefly and sent in bulk."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import anyio
from bson import ObjectId
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, PyMongoError

from ._store import FINISHED_CLAIM

__all__ = ["AckBatcher"]

logger = logging.getLogger("monque.store")

Document = dict[str, Any]


@dataclass(eq=False)
class _Ack:
    job_id: ObjectId
    fence: Document
    update: Document
    token: str | None
    done: anyio.Event = field(default_factory=anyio.Event)
    matched: bool = False
    error: PyMongoError | None = None
    unsent: bool = False


class AckBatcher:
    """Collects fenced outcome writes for a short window and sends them in bulk.

    Each write keeps its own ownership filter, so one unordered bulk write
    changes only the jobs this instance still owns. A write counts as done only
    where it matched: when the bulk write matched fewer jobs than it held, the
    jobs are read back, and a write counts where the job carries the claim token
    that write finished (`lastClaimToken`). The same check makes a retried write
    whose first try had in fact been applied count once.

    While the batcher is not running, and when `window` is `None`, each write
    is sent on its own at once.

    Args:
        collection: The jobs collection.
        window: Seconds to gather writes before a flush; `None` sends each
            write at once.
        max_batch: The most writes in one bulk write; a full batch is sent
            without waiting for the window to end.
    """

    def __init__(
        self,
        collection: AsyncCollection[Document],
        *,
        window: float | None,
        max_batch: int = 100,
    ) -> None:
        self.collection = collection
        self.window = window
        self.max_batch = max_batch
        self.running = False
        self._closing = False
        self._queue: list[_Ack] = []
        self._ready = anyio.Event()
        self._full = anyio.Event()

    async def write(
        self, job_id: ObjectId, fence: Document, update: Document, token: str | None
    ) -> bool:
        """Send one outcome write; return whether it changed the job.

        Args:
            job_id: The job the write is for.
            fence: The filter that matches the job only while this claim owns it.
            update: The update, which must set `lastClaimToken` to `token`.
            token: The claim token the write finishes.

        Raises:
            PyMongoError: The write, or the read that checks it, failed; the
                caller may retry it.
        """
        ack = _Ack(job_id, fence, update, token)
        if self.window is None or not self.running or self._closing:
            await self._flush([ack])
        else:
            self._queue.append(ack)
            self._ready.set()
            if len(self._queue) >= self.max_batch:
                self._full.set()

            await ack.done.wait()
            if ack.unsent:
                await self._flush([ack])

        if ack.error is not None:
            raise ack.error

        return ack.matched

    def open(self) -> None:
        """Queue writes from now on, for the `run()` about to start."""
        self.running = True
        self._closing = False
        self._ready = anyio.Event()
        self._full = anyio.Event()

    async def run(self) -> None:
        """Send queued writes in batches until `close()`, then send the rest.

        Call `open()` first. Writes still queued when the batcher is cancelled
        are handed back to their callers, which send them on their own.
        """
        try:
            while not self._closing or self._queue:
                await self._ready.wait()
                if self.window is not None and not self._closing:
                    with anyio.move_on_after(self.window):
                        await self._full.wait()

                batch = self._take()
                if batch:
                    with anyio.CancelScope(shield=True):
                        await self._flush(batch)
        finally:
            self.running = False
            for ack in self._queue:
                ack.unsent = True
                ack.done.set()

            self._queue.clear()

    def close(self) -> None:
        """Send what is queued at once and make `run()` return after it."""
        self._closing = True
        self._ready.set()
        self._full.set()

    def _take(self) -> list[_Ack]:
        batch = self._queue[: self.max_batch]
        del self._queue[: self.max_batch]
        self._ready = anyio.Event()
        self._full = anyio.Event()
        if self._queue or self._closing:
            self._ready.set()

        if len(self._queue) >= self.max_batch or self._closing:
            self._full.set()

        return batch

    async def _flush(self, batch: list[_Ack]) -> None:
        try:
            await self._send(batch)
        finally:
            for ack in batch:
                ack.done.set()

    async def _send(self, batch: list[_Ack]) -> None:
        try:
            result = await self.collection.bulk_write(
                [UpdateOne(ack.fence, ack.update) for ack in batch], ordered=False
            )
            all_matched = result.matched_count == len(batch)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                batch[error["index"]].error = exc

            all_matched = False
        except PyMongoError as exc:
            for ack in batch:
                ack.error = exc

            return

        sent = [ack for ack in batch if ack.error is None]
        if all_matched:
            for ack in sent:
                ack.matched = True

        elif sent:
            try:
                await self._verify(sent)
            except PyMongoError as exc:
                for ack in sent:
                    ack.error = exc

        logger.debug(
            "Wrote %d job outcome(s) in one bulk write; %d took effect",
            len(batch),
            sum(ack.matched for ack in batch),
            extra={"action": "write_outcomes"},
        )

    async def _verify(self, acks: list[_Ack]) -> None:
        """Find which writes of a partly matched bulk write took effect."""
        cursor = self.collection.find(
            {"_id": {"$in": [ack.job_id for ack in acks]}}, {FINISHED_CLAIM: 1}
        )
        finished = {doc["_id"]: doc.get(FINISHED_CLAIM) async for doc in cursor}
        for ack in acks:
            token = finished.get(ack.job_id)
            ack.matched = token is not None and token == ack.token
