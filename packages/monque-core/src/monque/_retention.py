"""Retention: removing completed and failed jobs once they are old enough."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import anyio
from pymongo.errors import PyMongoError

from ._errors import DatabaseError
from ._events import JobsPurged, LoopFailed
from ._job import JobStatus
from ._state import SchedulerState
from ._store import utcnow
from ._validation import check_optional_positive

__all__ = ["PurgeResult", "RetentionMixin"]

logger = logging.getLogger("monque.scheduler")


@dataclass(frozen=True)
class PurgeResult:
    """How many finished jobs one purge removed.

    Attributes:
        completed: Completed jobs removed.
        failed: Failed jobs removed.
    """

    completed: int = 0
    failed: int = 0


class RetentionMixin(SchedulerState):
    """The retention methods of `Monque`."""

    async def purge(
        self,
        *,
        completed_older_than: float | None = None,
        failed_older_than: float | None = None,
    ) -> PurgeResult:
        """Delete completed and failed jobs that finished long enough ago.

        A running instance does this by itself every `cleanup_interval` seconds
        with its `completed_retention` and `failed_retention`; call it to purge
        at another time or with other ages. Age counts from the job's last
        change, which for a finished job is when it finished.

        Args:
            completed_older_than: Seconds; `completed_retention` by default.
                Completed jobs are kept when both are `None`.
            failed_older_than: Seconds; `failed_retention` by default. Failed
                jobs are kept when both are `None`.

        Raises:
            DatabaseError: The delete failed.
        """
        self._require_initialized()
        completed_age = check_optional_positive(
            "completed_older_than", completed_older_than
        )
        failed_age = check_optional_positive("failed_older_than", failed_older_than)
        if completed_age is None:
            completed_age = self.options.completed_retention

        if failed_age is None:
            failed_age = self.options.failed_retention

        now = utcnow()
        removed: dict[JobStatus, int] = {}
        for status, age in (
            (JobStatus.COMPLETED, completed_age),
            (JobStatus.FAILED, failed_age),
        ):
            if age is None:
                continue

            cutoff = now - dt.timedelta(seconds=age)
            try:
                result = await self.store.collection.delete_many(
                    {"status": status.value, "updatedAt": {"$lt": cutoff}}
                )
            except PyMongoError as exc:
                raise DatabaseError(f"could not purge {status} jobs: {exc}") from exc

            removed[status] = result.deleted_count

        purged = PurgeResult(
            completed=removed.get(JobStatus.COMPLETED, 0),
            failed=removed.get(JobStatus.FAILED, 0),
        )
        if purged.completed or purged.failed:
            logger.info(
                "Purged %d completed and %d failed job(s)",
                purged.completed,
                purged.failed,
                extra={"action": "purge"},
            )
            self.events.emit(JobsPurged(purged.completed, purged.failed))

        return purged

    async def _retention_loop(self) -> None:
        options = self.options
        if options.completed_retention is None and options.failed_retention is None:
            return

        while True:
            try:
                await self.purge()
            except DatabaseError as exc:
                logger.warning(
                    "The purge step failed: %s", exc, extra={"action": "purge"}
                )
                self.events.emit(LoopFailed("purge", exc))
            except Exception as exc:
                logger.exception(
                    "The purge step failed unexpectedly", extra={"action": "purge"}
                )
                self.events.emit(LoopFailed("purge", exc))

            await anyio.sleep(options.cleanup_interval)
