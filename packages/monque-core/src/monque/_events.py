"""Typed lifecycle events and the bus that delivers them to subscribers."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ._job import Job

__all__ = [
    "ChangeStreamConnected",
    "ChangeStreamFallback",
    "Event",
    "EventBus",
    "JobCancelled",
    "JobCompleted",
    "JobDeleted",
    "JobEnqueued",
    "JobFailed",
    "JobInterrupted",
    "JobReleased",
    "JobRescheduled",
    "JobRetried",
    "JobScheduleUpdated",
    "JobStarted",
    "JobsPurged",
    "LoopFailed",
    "SchedulerStarted",
    "SchedulerStopped",
    "StaleJobsRecovered",
]

logger = logging.getLogger("monque.events")

E = TypeVar("E", bound="Event")


@dataclass(frozen=True)
class Event:
    """The base of every event; subscribe to it to receive them all."""


@dataclass(frozen=True)
class JobEnqueued(Event):
    """A job was stored by this instance."""

    job: Job


@dataclass(frozen=True)
class JobStarted(Event):
    """This instance claimed a job and is calling its handler."""

    job: Job


@dataclass(frozen=True)
class JobCompleted(Event):
    """A handler returned and the completion was recorded.

    Attributes:
        job: The job as it was claimed.
        duration: Seconds the handler ran.
    """

    job: Job
    duration: float


@dataclass(frozen=True)
class JobFailed(Event):
    """A handler raised and the failure was recorded.

    Attributes:
        job: The job as it was claimed.
        error: What the handler raised.
        will_retry: Whether the job returns to `pending` for another attempt.
        next_run_at: When the next attempt is due, if there is one.
    """

    job: Job
    error: BaseException
    will_retry: bool
    next_run_at: dt.datetime | None


@dataclass(frozen=True)
class JobCancelled(Event):
    """A job was cancelled, before or while it ran."""

    job: Job


@dataclass(frozen=True)
class JobInterrupted(Event):
    """This instance stopped a running handler that no longer owned its job.

    Nothing was written for the job and no completion or failure event fires
    for this attempt.

    Attributes:
        job: The job as it was claimed.
        reason: ``"cancelled"`` when the job was cancelled while it ran, by
            this instance or another; ``"lease_lost"`` when the lease expired
            and the job was recovered for another attempt.
    """

    job: Job
    reason: str


@dataclass(frozen=True)
class JobRetried(Event):
    """A failed or cancelled job was put back to `pending` by `retry_job`."""

    job: Job


@dataclass(frozen=True)
class JobRescheduled(Event):
    """A pending job was given a new due time by `reschedule_job`."""

    job: Job


@dataclass(frozen=True)
class JobDeleted(Event):
    """A job was deleted by `delete_job`; `job` is its last state."""

    job: Job


@dataclass(frozen=True)
class JobScheduleUpdated(Event):
    """`schedule` changed the expression, timezone or data of a recurring job."""

    job: Job


@dataclass(frozen=True)
class JobsPurged(Event):
    """Retention removed finished jobs.

    Attributes:
        completed: Completed jobs removed.
        failed: Failed jobs removed.
    """

    completed: int
    failed: int


@dataclass(frozen=True)
class JobReleased(Event):
    """A running job was handed back to `pending` at shutdown."""

    job: Job


@dataclass(frozen=True)
class StaleJobsRecovered(Event):
    """A sweep returned jobs whose owner stopped renewing its lease.

    Attributes:
        count: Jobs put back to `pending`.
        failed: Jobs failed for having been recovered too often.
    """

    count: int
    failed: int = 0


@dataclass(frozen=True)
class ChangeStreamConnected(Event):
    """The change stream that wakes workers is open."""


@dataclass(frozen=True)
class ChangeStreamFallback(Event):
    """Change streams are unavailable; workers rely on polling.

    Attributes:
        reason: Why the change stream could not be used.
    """

    reason: str


@dataclass(frozen=True)
class SchedulerStarted(Event):
    """The instance started processing."""

    instance_id: str


@dataclass(frozen=True)
class SchedulerStopped(Event):
    """The instance stopped processing."""

    instance_id: str


@dataclass(frozen=True)
class LoopFailed(Event):
    """A background loop hit an error it will retry after a pause.

    Attributes:
        action: The loop or step that failed, such as ``"claim"``.
        error: The exception.
    """

    action: str
    error: BaseException


Subscriber = Callable[[E], object]


class EventBus:
    """Delivers events to subscribers; a failing subscriber is logged, not raised."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[type[Event], Callable[[Any], object]]] = []

    def subscribe(
        self, event_type: type[E], callback: Callable[[E], object]
    ) -> Callable[[], None]:
        """Call `callback` for every event of `event_type` (or a subclass)."""
        kind: object = event_type
        if not (isinstance(kind, type) and issubclass(kind, Event)):
            raise TypeError(f"event_type must be an Event class, not {event_type!r}")

        if not callable(callback):
            raise TypeError("callback must be callable")

        entry: tuple[type[Event], Callable[[Any], object]] = (event_type, callback)
        self._subscribers.append(entry)

        def unsubscribe() -> None:
            if entry in self._subscribers:
                self._subscribers.remove(entry)

        return unsubscribe

    def emit(self, event: Event) -> None:
        """Deliver `event` to every matching subscriber, in subscription order."""
        for event_type, callback in list(self._subscribers):
            if not isinstance(event, event_type):
                continue

            try:
                callback(event)
            except Exception:
                logger.exception(
                    "Event subscriber %r failed on %s",
                    callback,
                    type(event).__name__,
                    extra={"action": "emit_event"},
                )
