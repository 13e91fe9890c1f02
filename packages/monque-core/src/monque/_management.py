"""Reading and managing stored jobs: listings, state changes, deletion and stats."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from ._errors import DatabaseError, InvalidJobStateError, JobNotFoundError
from ._events import Event, JobCancelled, JobDeleted, JobRescheduled, JobRetried
from ._filters import JobFilter, JobPage, StatusFilter, decode_cursor, encode_cursor
from ._job import Job, JobStatus
from ._state import SchedulerState
from ._store import Document, utcnow
from ._validation import check_aware, check_delay, check_positive_int, parse_job_id

__all__ = ["MAX_PAGE_SIZE", "ManagementMixin", "QueueStats"]

logger = logging.getLogger("monque.scheduler")

MAX_PAGE_SIZE = 1000

PENDING = JobStatus.PENDING.value
PROCESSING = JobStatus.PROCESSING.value
FAILED = JobStatus.FAILED.value
CANCELLED = JobStatus.CANCELLED.value
COMPLETED = JobStatus.COMPLETED.value

_LEASE_FIELDS = dict.fromkeys(
    ("lockedAt", "claimedBy", "claimToken", "lastHeartbeat", "heartbeatInterval"), ""
)

Update = Callable[[dt.datetime], Document]


@dataclass(frozen=True)
class QueueStats:
    """Job counts per status and the average processing time.

    Attributes:
        counts: Jobs per status; every status is present.
        average_processing_time: Mean seconds from claim to completion over the
            completed jobs still stored, or `None` when there are none.
    """

    counts: Mapping[JobStatus, int]
    average_processing_time: float | None

    @property
    def total(self) -> int:
        """All jobs counted."""
        return sum(self.counts.values())

    @property
    def pending(self) -> int:
        """Jobs waiting to run."""
        return self.counts[JobStatus.PENDING]

    @property
    def processing(self) -> int:
        """Jobs running now."""
        return self.counts[JobStatus.PROCESSING]

    @property
    def completed(self) -> int:
        """Jobs that finished successfully."""
        return self.counts[JobStatus.COMPLETED]

    @property
    def failed(self) -> int:
        """Jobs that failed for good."""
        return self.counts[JobStatus.FAILED]

    @property
    def cancelled(self) -> int:
        """Jobs that were cancelled."""
        return self.counts[JobStatus.CANCELLED]


def _cancel(now: dt.datetime) -> Document:
    return {"$set": {"status": CANCELLED, "cancelledAt": now, "updatedAt": now}}


def _cancel_running(now: dt.datetime) -> Document:
    return {**_cancel(now), "$unset": _LEASE_FIELDS}


def _retry(now: dt.datetime) -> Document:
    return {
        "$set": {"status": PENDING, "nextRunAt": now, "failCount": 0, "updatedAt": now},
        "$unset": {
            "failReason": "",
            "failedAt": "",
            "cancelledAt": "",
            "recoveryCount": "",
        },
    }


class ManagementMixin(SchedulerState):
    """The job management methods of `Monque`."""

    async def get_jobs(
        self,
        *,
        name: str | None = None,
        status: StatusFilter | None = None,
        created_after: dt.datetime | None = None,
        created_before: dt.datetime | None = None,
        next_run_after: dt.datetime | None = None,
        next_run_before: dt.datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> JobPage:
        """List jobs in insertion order, one page at a time.

        Pages are keyed on the job id, so paging through a listing neither
        skips nor repeats a job while jobs are added or change status: every
        job that matched when the first page was read and still matches
        appears exactly once. Jobs added meanwhile appear at most once.

        Args:
            name: Only jobs of this name.
            status: Only jobs in this status or in any of these statuses.
            created_after: Only jobs enqueued at or after this time.
            created_before: Only jobs enqueued before this time.
            next_run_after: Only jobs due at or after this time.
            next_run_before: Only jobs due before this time.
            limit: The most jobs on one page, from 1 to 1000.
            cursor: The `next_cursor` of the previous page, with the same
                criteria.
            newest_first: List the newest jobs first.

        Raises:
            TypeError: A criterion is not of its plain type; mappings and
                operator documents are refused.
            ValueError: A criterion, the limit or the cursor is invalid.
            DatabaseError: The read failed.
        """
        self._require_initialized()
        where = JobFilter(
            name=name,
            status=status,
            created_after=created_after,
            created_before=created_before,
            next_run_after=next_run_after,
            next_run_before=next_run_before,
        )
        check_positive_int("limit", limit)
        if limit > MAX_PAGE_SIZE:
            raise ValueError(f"limit must be at most {MAX_PAGE_SIZE}, not {limit}")

        if not isinstance(newest_first, bool):
            raise TypeError(f"newest_first must be True or False, not {newest_first!r}")

        query = where.to_query()
        if cursor is not None:
            after = decode_cursor(cursor, newest_first=newest_first)
            query["_id"] = {"$lt" if newest_first else "$gt": after}

        order = DESCENDING if newest_first else ASCENDING
        try:
            found = self.store.collection.find(
                query, sort=[("_id", order)], limit=limit + 1
            )
            docs = [doc async for doc in found]
        except PyMongoError as exc:
            raise DatabaseError(f"could not list jobs: {exc}") from exc

        more = len(docs) > limit
        jobs = [Job.from_document(doc) for doc in docs[:limit]]
        next_cursor = None
        if more:
            next_cursor = encode_cursor(
                docs[limit - 1]["_id"], newest_first=newest_first
            )

        return JobPage(jobs=jobs, next_cursor=next_cursor)

    async def cancel_job(self, job_id: str | ObjectId) -> Job:
        """Cancel a pending or processing job and return it.

        A pending job will not run. A processing job is marked cancelled at
        once and its handler is cancelled: at once when this instance runs it,
        at the owner's next heartbeat otherwise. Nothing the handler does
        afterwards changes the job. A recurring job stops recurring.

        Raises:
            JobNotFoundError: No job has this id.
            InvalidJobStateError: The job is completed, failed or cancelled.
            DatabaseError: The write failed.
        """
        self._require_initialized()
        was, job = await self._transition(
            job_id, "cancel", {PENDING: _cancel, PROCESSING: _cancel_running}
        )
        if was == PROCESSING:
            self._job_cancelled(job.id)

        self._changed(job, "cancel", "Cancelled", JobCancelled(job))
        return job

    async def retry_job(self, job_id: str | ObjectId) -> Job:
        """Put a failed or cancelled job back to `pending`, due now; return it.

        The fail count starts again from zero.

        Raises:
            JobNotFoundError: No job has this id.
            InvalidJobStateError: The job is not failed or cancelled, or its
                unique key is held by another pending or processing job.
            DatabaseError: The write failed.
        """
        self._require_initialized()
        _, job = await self._transition(
            job_id, "retry", {FAILED: _retry, CANCELLED: _retry}
        )
        self._changed(job, "retry", "Retried", JobRetried(job))
        self._wake(job)
        return job

    async def reschedule_job(
        self,
        job_id: str | ObjectId,
        *,
        run_at: dt.datetime | None = None,
        delay: float | None = None,
    ) -> Job:
        """Give a pending job a new due time and return it.

        Args:
            job_id: The job.
            run_at: The new due time; a timezone-aware datetime.
            delay: Seconds from now until the job is due; not with `run_at`.

        Raises:
            JobNotFoundError: No job has this id.
            InvalidJobStateError: The job is not pending.
            DatabaseError: The write failed.
        """
        self._require_initialized()
        if (run_at is None) == (delay is None):
            raise ValueError("give either run_at or delay")

        if run_at is not None:
            due = check_aware("run_at", run_at)
        else:
            due = utcnow() + check_delay(delay)

        def move(now: dt.datetime) -> Document:
            return {"$set": {"nextRunAt": due, "updatedAt": now}}

        _, job = await self._transition(job_id, "reschedule", {PENDING: move})
        self._changed(job, "reschedule", "Rescheduled", JobRescheduled(job))
        self._wake(job)
        return job

    async def delete_job(self, job_id: str | ObjectId) -> Job:
        """Delete a job that is not processing; return its last state.

        Raises:
            JobNotFoundError: No job has this id.
            InvalidJobStateError: The job is processing; cancel it first.
            DatabaseError: The write failed.
        """
        self._require_initialized()
        oid = parse_job_id(job_id)
        try:
            doc = await self.store.find(oid)
            if doc is None:
                raise JobNotFoundError(str(oid))

            if doc["status"] == PROCESSING:
                raise InvalidJobStateError(
                    str(oid), PROCESSING, "delete", "cancel it first"
                )

            result = await self.store.collection.delete_one(
                {"_id": oid, "status": {"$ne": PROCESSING}}
            )
        except PyMongoError as exc:
            raise DatabaseError(f"could not delete job {oid}: {exc}") from exc

        if result.deleted_count == 0:
            raise InvalidJobStateError(
                str(oid), PROCESSING, "delete", "it was claimed meanwhile"
            )

        job = Job.from_document(doc)
        self._changed(job, "delete", "Deleted", JobDeleted(job))
        return job

    async def cancel_jobs(self, jobs: Iterable[str | ObjectId] | JobFilter) -> int:
        """Cancel every pending or processing job selected; return how many.

        Args:
            jobs: Job ids, or a `JobFilter`. Selected jobs in another status
                are skipped. Each job is changed on its own, with its event.

        Raises:
            TypeError: `jobs` is neither ids nor a `JobFilter`.
            ValueError: An id is invalid; then nothing is changed.
            DatabaseError: A read or write failed.
        """
        return await self._bulk(jobs, self.cancel_job, (PENDING, PROCESSING))

    async def retry_jobs(self, jobs: Iterable[str | ObjectId] | JobFilter) -> int:
        """Retry every failed or cancelled job selected; return how many.

        Takes the same selection as `cancel_jobs`.
        """
        return await self._bulk(jobs, self.retry_job, (FAILED, CANCELLED))

    async def delete_jobs(self, jobs: Iterable[str | ObjectId] | JobFilter) -> int:
        """Delete every selected job that is not processing; return how many.

        Takes the same selection as `cancel_jobs`.
        """
        return await self._bulk(
            jobs, self.delete_job, (PENDING, COMPLETED, FAILED, CANCELLED)
        )

    async def get_queue_stats(self, *, name: str | None = None) -> QueueStats:
        """Count jobs per status and average the processing time.

        Args:
            name: Only jobs of this name.

        Raises:
            DatabaseError: The read failed.
        """
        self._require_initialized()
        match = JobFilter(name=name).to_query()
        counts = dict.fromkeys(JobStatus, 0)
        durations = [
            {"$match": {**match, "status": COMPLETED, "startedAt": {"$type": "date"}}},
            {"$match": {"completedAt": {"$type": "date"}}},
            {
                "$group": {
                    "_id": None,
                    "ms": {"$avg": {"$subtract": ["$completedAt", "$startedAt"]}},
                }
            },
        ]
        try:
            grouped = await self.store.collection.aggregate(
                [{"$match": match}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}]
            )
            async for row in grouped:
                if row["_id"] in JobStatus._value2member_map_:
                    counts[JobStatus(row["_id"])] = int(row["n"])

            averaged = await self.store.collection.aggregate(durations)
            rows = [row async for row in averaged]
        except PyMongoError as exc:
            raise DatabaseError(f"could not count jobs: {exc}") from exc

        average = None
        if rows and rows[0].get("ms") is not None:
            average = float(rows[0]["ms"]) / 1000

        return QueueStats(counts=counts, average_processing_time=average)

    def _job_cancelled(self, job_id: str) -> None:
        """Called after a job was marked cancelled; notifies local workers.

        The job's owner, if it is this instance, learns here that its handler
        should stop; the owner's fenced writes match nothing afterwards, so
        whatever the handler does, the job stays cancelled.
        """

    async def _transition(
        self, job_id: str | ObjectId, action: str, updates: Mapping[str, Update]
    ) -> tuple[str, Job]:
        oid = parse_job_id(job_id)
        doc: Document = {}
        try:
            for _ in range(10):
                found = await self.store.find(oid)
                if found is None:
                    raise JobNotFoundError(str(oid))

                doc = found
                update = updates.get(doc["status"])
                if update is None:
                    raise InvalidJobStateError(str(oid), doc["status"], action)

                changed = await self.store.collection.find_one_and_update(
                    {"_id": oid, "status": doc["status"]},
                    update(utcnow()),
                    return_document=ReturnDocument.AFTER,
                )
                if changed is not None:
                    return doc["status"], Job.from_document(changed)
        except DuplicateKeyError:
            raise InvalidJobStateError(
                str(oid),
                doc["status"],
                action,
                f"another job holds its unique key {doc.get('uniqueKey')!r}",
            ) from None
        except PyMongoError as exc:
            raise DatabaseError(f"could not {action} job {oid}: {exc}") from exc

        raise InvalidJobStateError(
            str(oid), doc["status"], action, "its status kept changing"
        )

    async def _bulk(
        self,
        jobs: Iterable[str | ObjectId] | JobFilter,
        act: Callable[[ObjectId], Any],
        statuses: tuple[str, ...],
    ) -> int:
        self._require_initialized()
        ids = await self._select(jobs, statuses)
        done = 0
        for oid in ids:
            try:
                await act(oid)
            except (JobNotFoundError, InvalidJobStateError):
                continue

            done += 1

        return done

    async def _select(
        self, jobs: Iterable[str | ObjectId] | JobFilter, statuses: tuple[str, ...]
    ) -> list[ObjectId]:
        if isinstance(jobs, JobFilter):
            query = {"$and": [jobs.to_query(), {"status": {"$in": list(statuses)}}]}
            try:
                found = self.store.collection.find(query, {"_id": 1}, sort=[("_id", 1)])
                return [doc["_id"] async for doc in found]
            except PyMongoError as exc:
                raise DatabaseError(f"could not select jobs: {exc}") from exc

        if isinstance(jobs, (str, bytes, ObjectId, Mapping)) or not isinstance(
            jobs, Iterable
        ):
            kind = type(jobs).__name__
            raise TypeError(
                f"jobs must be a list of job ids or a JobFilter, not {kind}"
            )

        return list(dict.fromkeys(parse_job_id(job_id) for job_id in jobs))

    def _changed(self, job: Job, action: str, verb: str, event: Event) -> None:
        logger.info(
            "%s job %s (%s)",
            verb,
            job.id,
            job.name,
            extra={"action": f"{action}_job", "job_id": job.id, "job_name": job.name},
        )
        self.events.emit(event)
