"""The job as stored in MongoDB and as handed to handlers."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Job", "JobStatus"]


class JobStatus(str, enum.Enum):
    """The life-cycle states of a job, as stored in its `status` field."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


def _utc(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None

    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)

    return value.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class Job:
    """One job: a snapshot of its document when monque last read it.

    Attributes:
        id: The job's id, the hex string of its MongoDB `ObjectId`.
        name: The job name, which selects the handler.
        data: The payload given at enqueue time.
        status: Where the job is in its life cycle.
        next_run_at: When the job is (or was) due.
        created_at: When the job was enqueued.
        updated_at: When the job document last changed.
        fail_count: How many attempts have failed so far.
        fail_reason: The error of the last failed attempt, if any.
        priority: Higher runs first among due jobs.
        unique_key: The deduplication key given at enqueue time, if any.
        max_retries: The job's own retry limit, if it overrides the handler's.
        claimed_by: The instance that holds the job while it is processing.
        locked_at: When the current owner claimed the job.
        last_heartbeat: When the current owner last renewed its lease.
        repeat_interval: The cron expression of a recurring job.
        timezone: The IANA timezone of a recurring job's cron expression.
        recovery_count: How often the job was taken back from a dead worker.
    """

    id: str
    name: str
    data: Any
    status: JobStatus
    next_run_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    fail_count: int = 0
    fail_reason: str | None = None
    priority: int = 0
    unique_key: str | None = None
    max_retries: int | None = None
    claimed_by: str | None = None
    locked_at: dt.datetime | None = None
    last_heartbeat: dt.datetime | None = None
    repeat_interval: str | None = None
    timezone: str | None = None
    recovery_count: int = 0
    claim_token: str | None = None

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Job:
        """Build a job from its stored document."""
        created = _utc(doc.get("createdAt")) or dt.datetime.now(dt.timezone.utc)
        return cls(
            id=str(doc["_id"]),
            name=doc["name"],
            data=doc.get("data"),
            status=JobStatus(doc["status"]),
            next_run_at=_utc(doc.get("nextRunAt")) or created,
            created_at=created,
            updated_at=_utc(doc.get("updatedAt")) or created,
            fail_count=int(doc.get("failCount") or 0),
            fail_reason=doc.get("failReason"),
            priority=int(doc.get("priority") or 0),
            unique_key=doc.get("uniqueKey"),
            max_retries=doc.get("maxRetries"),
            claimed_by=doc.get("claimedBy"),
            locked_at=_utc(doc.get("lockedAt")),
            last_heartbeat=_utc(doc.get("lastHeartbeat")),
            repeat_interval=doc.get("repeatInterval"),
            timezone=doc.get("timezone"),
            recovery_count=int(doc.get("recoveryCount") or 0),
            claim_token=doc.get("claimToken"),
        )

    @property
    def is_recurring(self) -> bool:
        """Whether the job returns to `pending` on a cron schedule."""
        return self.repeat_interval is not None
