"""monque: a persistent job scheduler for Python services that run MongoDB."""

from __future__ import annotations

from ._backoff import retry_delay
from ._cron import CronSchedule
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
    PayloadValidationError,
    RetryAfter,
)
from ._events import (
    ChangeStreamConnected,
    ChangeStreamFallback,
    Event,
    JobCancelled,
    JobCompleted,
    JobDeleted,
    JobEnqueued,
    JobFailed,
    JobInterrupted,
    JobReleased,
    JobRescheduled,
    JobRetried,
    JobScheduleUpdated,
    JobsPurged,
    JobStarted,
    LoopFailed,
    SchedulerStarted,
    SchedulerStopped,
    StaleJobsRecovered,
)
from ._filters import JobFilter, JobPage
from ._handler import Handler, HandlerSpec
from ._job import Job, JobStatus
from ._management import QueueStats
from ._retention import PurgeResult
from ._scheduler import Monque

__all__ = [
    "ChangeStreamConnected",
    "ChangeStreamFallback",
    "CronSchedule",
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
    "JobDeleted",
    "JobEnqueued",
    "JobFailed",
    "JobFilter",
    "JobInterrupted",
    "JobNotFoundError",
    "JobPage",
    "JobReleased",
    "JobRescheduled",
    "JobRetried",
    "JobScheduleUpdated",
    "JobStarted",
    "JobStatus",
    "JobTimeoutError",
    "JobsPurged",
    "LoopFailed",
    "Monque",
    "MonqueError",
    "NonRetryableError",
    "NotInitializedError",
    "PayloadError",
    "PayloadTooLargeError",
    "PayloadValidationError",
    "PurgeResult",
    "QueueStats",
    "RetryAfter",
    "SchedulerStarted",
    "SchedulerStopped",
    "StaleJobsRecovered",
    "retry_delay",
]

__version__ = "0.1.0"
