"""Job filters and page cursors, built from values that may come from untrusted input.

Every criterion takes a plain value of one type, checked before any query is
built, so a value such as ``{"$ne": None}`` taken from a request cannot turn an
equality into an operator.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from ._job import Job, JobStatus
from ._validation import check_aware, check_job_name

__all__ = ["JobFilter", "JobPage", "StatusFilter", "decode_cursor", "encode_cursor"]

StatusFilter = JobStatus | str | Iterable[JobStatus | str]

_CURSOR_PREFIX = {False: "a", True: "d"}


def _status(value: object) -> JobStatus:
    if isinstance(value, JobStatus):
        return value

    if not isinstance(value, str):
        raise TypeError(f"status must be a job status string, not {value!r}")

    try:
        return JobStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in JobStatus)
        raise ValueError(
            f"unknown job status {value!r}; known ones are {known}"
        ) from None


def _statuses(value: object) -> tuple[JobStatus, ...] | None:
    if value is None:
        return None

    if isinstance(value, (str, JobStatus)):
        return (_status(value),)

    if isinstance(value, (Mapping, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"status must be a status or a list of statuses, not {value!r}")

    statuses = tuple(dict.fromkeys(_status(item) for item in value))
    if not statuses:
        raise ValueError("status must name at least one status")

    return statuses


def _moment(option: str, value: object) -> dt.datetime | None:
    return None if value is None else check_aware(option, value)


@dataclass(frozen=True)
class JobFilter:
    """Which jobs a listing or a bulk action applies to; every criterion must hold.

    Args:
        name: Jobs of this name.
        status: Jobs in this status, or in any of these statuses.
        created_after: Jobs enqueued at or after this time.
        created_before: Jobs enqueued before this time.
        next_run_after: Jobs due at or after this time.
        next_run_before: Jobs due before this time.

    Raises:
        TypeError: A criterion is not of its plain type (a string, a status, a
            timezone-aware datetime); a mapping is never accepted.
        ValueError: A criterion has a type but no valid value.
    """

    name: str | None = None
    status: StatusFilter | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    next_run_after: dt.datetime | None = None
    next_run_before: dt.datetime | None = None
    _statuses: tuple[JobStatus, ...] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.name is not None:
            check_job_name(self.name)

        object.__setattr__(self, "_statuses", _statuses(self.status))
        object.__setattr__(self, "status", self._statuses)
        for option in (
            "created_after",
            "created_before",
            "next_run_after",
            "next_run_before",
        ):
            object.__setattr__(self, option, _moment(option, getattr(self, option)))

        for low, high in (
            (self.created_after, self.created_before),
            (self.next_run_after, self.next_run_before),
        ):
            if low is not None and high is not None and low > high:
                raise ValueError(f"the range from {low} to {high} is empty")

    @property
    def statuses(self) -> tuple[JobStatus, ...] | None:
        """The statuses matched, or `None` for every status."""
        return self._statuses

    def to_query(self) -> dict[str, Any]:
        """The MongoDB query for this filter."""
        query: dict[str, Any] = {}
        if self.name is not None:
            query["name"] = self.name

        if self._statuses is not None:
            values = [status.value for status in self._statuses]
            query["status"] = values[0] if len(values) == 1 else {"$in": values}

        for field_name, low, high in (
            ("createdAt", self.created_after, self.created_before),
            ("nextRunAt", self.next_run_after, self.next_run_before),
        ):
            bounds: dict[str, dt.datetime] = {}
            if low is not None:
                bounds["$gte"] = low

            if high is not None:
                bounds["$lt"] = high

            if bounds:
                query[field_name] = bounds

        return query


@dataclass(frozen=True)
class JobPage:
    """One page of a job listing.

    Attributes:
        jobs: The jobs of this page, in listing order.
        next_cursor: Pass it as `cursor` to get the next page; `None` on the
            last page.
    """

    jobs: list[Job]
    next_cursor: str | None


def encode_cursor(last_id: ObjectId, *, newest_first: bool) -> str:
    """An opaque cursor that continues a listing after `last_id`."""
    raw = last_id.binary
    return _CURSOR_PREFIX[newest_first] + base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: object, *, newest_first: bool) -> ObjectId:
    """The last id of the previous page, from a cursor made by `encode_cursor`.

    Raises:
        TypeError: `cursor` is not a string.
        ValueError: `cursor` was not made by monque, or for the other order.
    """
    if not isinstance(cursor, str):
        raise TypeError(f"cursor must be a string from a previous page, not {cursor!r}")

    prefix, body = cursor[:1], cursor[1:]
    if prefix not in _CURSOR_PREFIX.values() or len(body) != 16:
        raise ValueError(f"invalid cursor {cursor[:40]!r}")

    if prefix != _CURSOR_PREFIX[newest_first]:
        raise ValueError("the cursor belongs to a listing in the other order")

    try:
        return ObjectId(base64.urlsafe_b64decode(body.encode("ascii")))
    except (binascii.Error, InvalidId, UnicodeEncodeError, ValueError):
        raise ValueError(f"invalid cursor {cursor[:40]!r}") from None
