"""Storing jobs: one-off, batched, and recurring on a cron schedule."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from ._cron import CronSchedule
from ._errors import DatabaseError
from ._events import JobEnqueued, JobScheduleUpdated
from ._job import Job, JobStatus
from ._payload import dump_payload
from ._state import SchedulerState
from ._store import Document, JobStore, utcnow
from ._validation import (
    check_aware,
    check_delay,
    check_job_name,
    check_payload,
    check_retries,
)

__all__ = ["SCHEDULE_KEY", "EnqueueMixin"]

logger = logging.getLogger("monque.scheduler")

SCHEDULE_KEY = "cron"
"""The unique key of a recurring job scheduled without one."""


def _check_session(session: object) -> AsyncClientSession | None:
    if session is not None and not isinstance(session, AsyncClientSession):
        raise TypeError(
            "session must be a pymongo AsyncClientSession from "
            f"client.start_session(), not {type(session).__name__}"
        )

    return session


class EnqueueMixin(SchedulerState):
    """The enqueueing methods of `Monque`."""

    async def enqueue(
        self,
        name: str,
        data: Any = None,
        *,
        run_at: dt.datetime | None = None,
        delay: float | None = None,
        unique_key: str | None = None,
        priority: int = 0,
        max_retries: int | None = None,
        session: AsyncClientSession | None = None,
    ) -> Job:
        """Store a job and return it.

        Args:
            name: The job name, which selects the handler.
            data: The payload; anything BSON can store (dicts, lists, strings,
                numbers, datetimes, ...), or an instance of a pydantic model.
                When this instance registered a handler for `name` with a
                `model`, the data is validated by it and stored as its JSON
                dump.
            run_at: When the job is due; a timezone-aware datetime.
            delay: Seconds from now until the job is due; not with `run_at`.
            unique_key: While a job of this name with this key is pending or
                processing, enqueueing another returns that job instead.
            priority: Higher runs first among due jobs.
            max_retries: Failed attempts before this job fails for good.
            session: Store the job with this session, inside its transaction
                if one is open, so that the job exists only if the caller's
                own writes commit. Inside a transaction, driver errors are
                raised as they are, so that `with_transaction` can retry.

        Raises:
            NotInitializedError: `initialize()` was not called.
            PayloadError: `data` cannot be stored, is too large or does not
                fit the handler's model.
            DatabaseError: The write failed.
        """
        self._require_initialized()
        document = self._new_document(
            name,
            data,
            run_at=run_at,
            delay=delay,
            unique_key=unique_key,
            priority=priority,
            max_retries=max_retries,
        )
        stored, created = await self._insert(document, session=_check_session(session))
        job = Job.from_document(stored)
        if created:
            self._announce(job)

        return job

    async def now(self, name: str, data: Any = None, **kwargs: Any) -> Job:
        """Enqueue a job that is due at once; takes `enqueue`'s keyword arguments."""
        if "run_at" in kwargs or "delay" in kwargs:
            raise TypeError("now() takes neither run_at nor delay")

        return await self.enqueue(name, data, **kwargs)

    async def enqueue_many(
        self,
        name: str,
        payloads: Iterable[Any],
        *,
        run_at: dt.datetime | None = None,
        delay: float | None = None,
        priority: int = 0,
        max_retries: int | None = None,
        session: AsyncClientSession | None = None,
    ) -> list[Job]:
        """Store one job per payload in a single round trip; return them in order.

        Every payload is checked before anything is written. Takes the options
        of `enqueue` except `unique_key`.

        Raises:
            NotInitializedError: `initialize()` was not called.
            PayloadError: A payload cannot be stored, is too large or does not
                fit the handler's model.
            DatabaseError: The write failed.
        """
        self._require_initialized()
        session = _check_session(session)
        if isinstance(payloads, (str, bytes)) or not isinstance(payloads, Iterable):
            raise TypeError(
                f"payloads must be an iterable of payloads, not {payloads!r}"
            )

        documents = [
            self._new_document(
                name,
                data,
                run_at=run_at,
                delay=delay,
                unique_key=None,
                priority=priority,
                max_retries=max_retries,
            )
            for data in payloads
        ]
        try:
            stored = await self.store.insert_many(documents, session=session)
        except PyMongoError as exc:
            if session is not None and session.in_transaction:
                raise

            raise DatabaseError(f"could not enqueue jobs {name!r}: {exc}") from exc

        jobs = [Job.from_document(doc) for doc in stored]
        for job in jobs:
            self._announce(job)

        return jobs

    async def schedule(
        self,
        cron: str,
        name: str,
        data: Any = None,
        *,
        unique_key: str | None = None,
        timezone: str = "UTC",
        priority: int = 0,
        max_retries: int | None = None,
    ) -> Job:
        """Store a recurring job that runs on a cron schedule; return it.

        The job is one document: after each run it returns to `pending`, due
        at the first tick after the time it finished. Ticks missed while no
        worker ran are not replayed one by one; the job runs once.

        Scheduling is idempotent, so it is safe on every start-up of every
        instance: while a job of this name with this `unique_key` is pending or
        processing, no second one is stored. The existing job is returned,
        updated to the given expression, timezone, data and priority; its next
        run is recomputed only when the expression or the timezone changed.

        Args:
            cron: Five fields (minute, hour, day of month, month, day of week)
                or an alias such as ``@daily``; see the scheduling docs.
            name: The job name, which selects the handler.
            data: The payload of every run.
            unique_key: Tells apart several schedules of one job name; the
                default, ``"cron"``, allows one schedule per name.
            timezone: The IANA timezone the expression is read in.
            priority: Higher runs first among due jobs.
            max_retries: Failed attempts of one run before the job fails for
                good.

        Raises:
            NotInitializedError: `initialize()` was not called.
            InvalidCronError: The expression or the timezone cannot be used.
            PayloadError: `data` cannot be stored or does not fit the model.
            DatabaseError: The write failed.
        """
        self._require_initialized()
        schedule = CronSchedule.parse(cron, timezone)
        document = self._new_document(
            name,
            data,
            run_at=schedule.next_after(utcnow()),
            delay=None,
            unique_key=SCHEDULE_KEY if unique_key is None else unique_key,
            priority=priority,
            max_retries=max_retries,
        )
        document["repeatInterval"] = schedule.expression
        document["timezone"] = schedule.timezone
        stored, created = await self._insert(document, session=None)
        if created:
            job = Job.from_document(stored)
            self._announce(job)
            return job

        return await self._update_schedule(stored, document)

    async def _update_schedule(self, stored: Document, wanted: Document) -> Job:
        changes = {
            field: wanted[field]
            for field in ("data", "priority", "repeatInterval", "timezone")
            if stored.get(field) != wanted[field]
        }
        if wanted.get("maxRetries") != stored.get("maxRetries"):
            changes["maxRetries"] = wanted.get("maxRetries")

        moved = {"repeatInterval", "timezone"} & changes.keys()
        if moved and stored["status"] == JobStatus.PENDING.value:
            changes["nextRunAt"] = wanted["nextRunAt"]

        if not changes:
            return Job.from_document(stored)

        changes["updatedAt"] = utcnow()
        try:
            await self.store.collection.update_one(
                {"_id": stored["_id"], "status": stored["status"]}, {"$set": changes}
            )
            updated = await self.store.find(stored["_id"])
        except PyMongoError as exc:
            raise DatabaseError(
                f"could not update the schedule of job {stored['_id']}: {exc}"
            ) from exc

        job = Job.from_document(updated or {**stored, **changes})
        logger.info(
            "Updated recurring job %s (%s): %s",
            job.id,
            job.name,
            ", ".join(sorted(changes.keys() - {"updatedAt"})),
            extra={"action": "schedule", "job_id": job.id, "job_name": job.name},
        )
        self.events.emit(JobScheduleUpdated(job))
        if "nextRunAt" in changes:
            self._wake(job)

        return job

    async def _insert(
        self, document: Document, *, session: AsyncClientSession | None
    ) -> tuple[Document, bool]:
        try:
            return await self.store.insert(document, session=session)
        except PyMongoError as exc:
            if session is not None and session.in_transaction:
                raise

            raise DatabaseError(
                f"could not enqueue job {document['name']!r}: {exc}"
            ) from exc

    def _new_document(
        self,
        name: str,
        data: Any,
        *,
        run_at: dt.datetime | None,
        delay: float | None,
        unique_key: str | None,
        priority: int,
        max_retries: int | None,
    ) -> Document:
        check_job_name(name)
        if run_at is not None and delay is not None:
            raise ValueError("give run_at or delay, not both")

        due = utcnow()
        if run_at is not None:
            due = check_aware("run_at", run_at)
        elif delay is not None:
            due = due + check_delay(delay)

        key: object = unique_key
        if key is not None and (not isinstance(key, str) or not key):
            raise ValueError(
                f"unique_key must be a non-empty string, not {unique_key!r}"
            )

        if isinstance(priority, bool) or not isinstance(priority, int):
            raise TypeError(f"priority must be an integer, not {priority!r}")

        if not -(2**31) <= priority < 2**31:
            raise ValueError(f"priority must fit in 32 bits, not {priority!r}")

        if max_retries is not None:
            check_retries("max_retries", max_retries)

        spec = self._handlers.get(name)
        data = dump_payload(name, data, spec.model if spec is not None else None)
        check_payload(data, max_size=self.options.max_payload_size)
        return JobStore.new_document(
            name,
            data,
            run_at=due,
            priority=priority,
            unique_key=unique_key,
            max_retries=max_retries,
        )

    def _announce(self, job: Job) -> None:
        logger.info(
            "Enqueued job %s (%s)",
            job.id,
            job.name,
            extra={"action": "enqueue", "job_id": job.id, "job_name": job.name},
        )
        self.events.emit(JobEnqueued(job))
        self._wake(job)
