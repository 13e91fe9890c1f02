"""`MonqueSettings`: the scheduler's configuration, read from the environment."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["MonqueSettings"]

# The settings that map one to one onto keyword arguments of `monque.Monque`.
_CORE_OPTIONS = (
    "collection_name",
    "max_concurrency",
    "worker_concurrency",
    "poll_interval",
    "max_retries",
    "base_retry_interval",
    "max_backoff",
    "shutdown_timeout",
    "heartbeat_interval",
    "lock_timeout",
    "stale_check_interval",
    "max_recoveries",
    "max_payload_size",
    "instance_id",
    "create_indexes",
    "completed_retention",
    "failed_retention",
    "cleanup_interval",
    "change_streams",
    "batch_claims",
    "ack_window",
)


class MonqueSettings(BaseSettings):
    """How the FastAPI integration connects to MongoDB and runs the scheduler.

    Every field can be set from an environment variable named after it with the
    prefix `MONQUE_`, such as `MONQUE_MONGODB_URI` or
    `MONQUE_DISABLE_JOB_PROCESSING=true`; an empty variable keeps the default.
    The scheduler options have the meaning, default and limits of the
    `monque.Monque` argument of the same name.
    """

    model_config = SettingsConfigDict(
        env_prefix="MONQUE_",
        env_ignore_empty=True,
        use_attribute_docstrings=True,
        validate_default=True,
    )

    mongodb_uri: str = Field(default="mongodb://localhost:27017", repr=False)
    """The MongoDB connection string; used only when the lifespan is given no
    database. Client options such as `serverSelectionTimeoutMS` go here."""

    database: str = "monque"
    """The database that holds the jobs collection."""

    collection_name: str = "monque_jobs"
    """The jobs collection."""

    max_concurrency: int | None = Field(default=None, ge=1)
    """The most jobs this instance runs at once over all its job names."""

    worker_concurrency: int = Field(default=5, ge=1)
    """Jobs of one name this instance runs at once, unless the job sets its own."""

    poll_interval: float = Field(default=1.0, gt=0)
    """Seconds between two polls of an idle worker."""

    max_retries: int = Field(default=10, ge=0)
    """Failed attempts a job may have before it fails for good."""

    base_retry_interval: float = Field(default=1.0, gt=0)
    """Seconds before the first retry; each further retry doubles it."""

    max_backoff: float = Field(default=86400.0, gt=0)
    """The longest delay between two attempts, in seconds."""

    shutdown_timeout: float = Field(default=30.0, gt=0)
    """Seconds the app's shutdown waits for running jobs before it cancels them."""

    heartbeat_interval: float = Field(default=5.0, gt=0)
    """Seconds between two renewals of the leases of running jobs."""

    lock_timeout: float = Field(default=30.0, gt=0)
    """Seconds without a heartbeat after which a job counts as abandoned."""

    stale_check_interval: float | None = Field(default=None, gt=0)
    """Seconds between two sweeps for abandoned jobs; half of `lock_timeout` by
    default."""

    max_recoveries: int = Field(default=5, ge=0)
    """How often a job may be recovered from a dead worker before it fails."""

    max_payload_size: int | None = Field(default=1024 * 1024, ge=1)
    """The largest encoded job data in bytes."""

    instance_id: str | None = None
    """The name this instance claims jobs under; unique by default."""

    create_indexes: bool = True
    """Whether start-up creates the jobs collection's indexes."""

    completed_retention: float | None = Field(default=None, gt=0)
    """Seconds a completed job is kept; completed jobs stay until deleted by
    default."""

    failed_retention: float | None = Field(default=None, gt=0)
    """Seconds a failed job is kept; failed jobs stay until retried or deleted
    by default."""

    cleanup_interval: float = Field(default=60.0, gt=0)
    """Seconds between two purges of a processing instance that has a retention
    set."""

    change_streams: bool = True
    """Whether workers are woken by a change stream as jobs become due."""

    batch_claims: bool = True
    """Whether a poll claims all the jobs it has room for in a few round trips."""

    ack_window: float | None = Field(default=0.005, gt=0)
    """Seconds the outcomes of finished jobs are gathered into one bulk write;
    unset (`None`) writes each outcome at once."""

    disable_job_processing: bool = False
    """Run this app as a producer only.

    When true, the app connects and can enqueue and manage jobs through
    `MonqueDep`, but registers no workers and starts no polling, change stream
    or heartbeat; useful for producer-only nodes such as APIs. Jobs enqueued
    there wait, `pending`, for a worker node to claim them, and
    `Monque.is_healthy()` stays false because the instance never starts.
    """

    def monque_options(self) -> dict[str, Any]:
        """Return the keyword arguments for `monque.Monque` these settings give."""
        return {name: getattr(self, name) for name in _CORE_OPTIONS}
