"""monque: a persistent job scheduler for Python services that run MongoDB."""

from __future__ import annotations

from ._backoff import retry_delay
from ._errors import (
    DatabaseError,
    DuplicateHandlerError,
    InvalidCronError,
    InvalidJobStateError,
    JobNotFoundError,
    JobTimeoutError,
    MonqueError,
    NonRetryableError,
    NotInitializedError,
    PayloadError,
    PayloadTooLargeError,
    RetryAfter,
)
from ._events import (
    ChangeStreamConnected,
    ChangeStreamFallback,
    Event,
    JobCancelled,
    JobCompleted,
    JobEnqueued,
    JobFailed,
    JobReleased,
    JobStarted,
    LoopFailed,
    SchedulerStarted,
    SchedulerStopped,
    StaleJobsRecovered,
)
from ._handler import Handler, HandlerSpec
from ._job import Job, JobStatus
from ._scheduler import Monque

__all__ = [
    "ChangeStreamConnected",
    "ChangeStreamFallback",
    "DatabaseError",
    "DuplicateHandlerError",
    "Event",
    "Handler",
    "HandlerSpec",
    "InvalidCronError",
    "InvalidJobStateError",
    "Job",
    "JobCancelled",
    "JobCompleted",
    "JobEnqueued",
    "JobFailed",
    "JobNotFoundError",
    "JobReleased",
    "JobStarted",
    "JobStatus",
    "JobTimeoutError",
    "LoopFailed",
    "Monque",
    "MonqueError",
    "NonRetryableError",
    "NotInitializedError",
    "PayloadError",
    "PayloadTooLargeError",
    "RetryAfter",
    "SchedulerStarted",
    "SchedulerStopped",
    "StaleJobsRecovered",
    "retry_delay",
]

__version__ = "0.1.0"
