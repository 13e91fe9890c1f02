"""Checks shared by every public entry point; each names what it rejects."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import bson
from bson import ObjectId
from bson.errors import InvalidDocument, InvalidId

from ._errors import PayloadError, PayloadTooLargeError

__all__ = [
    "MAX_NAME_LENGTH",
    "check_aware",
    "check_bool",
    "check_delay",
    "check_job_name",
    "check_limit",
    "check_optional_positive",
    "check_payload",
    "check_positive",
    "check_positive_int",
    "check_retries",
    "parse_job_id",
]

MAX_NAME_LENGTH = 200


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_positive(option: str, value: object) -> float:
    """Return `value` as a float if it is a finite number above zero."""
    if not _is_number(value):
        raise TypeError(f"{option} must be a number of seconds, not {value!r}")

    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{option} must be a finite number above 0, not {value!r}")

    return number


def check_optional_positive(option: str, value: object) -> float | None:
    """Like `check_positive`, but `None` passes through."""
    return None if value is None else check_positive(option, value)


def check_positive_int(option: str, value: object) -> int:
    """Return `value` if it is an integer of at least 1."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{option} must be an integer, not {value!r}")

    if value < 1:
        raise ValueError(f"{option} must be at least 1, not {value!r}")

    return value


def check_limit(option: str, value: object) -> int | None:
    """Return an optional positive integer limit (`None` means no limit)."""
    return None if value is None else check_positive_int(option, value)


def check_retries(option: str, value: object) -> int:
    """Return `value` if it is an integer of at least 0."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{option} must be an integer, not {value!r}")

    if value < 0:
        raise ValueError(f"{option} must not be negative, not {value!r}")

    return value


def check_bool(option: str, value: object) -> bool:
    """Return `value` if it is a bool."""
    if not isinstance(value, bool):
        raise TypeError(f"{option} must be True or False, not {value!r}")

    return value


def check_delay(delay: object) -> dt.timedelta:
    """Return `delay` as a timedelta if it is a finite number of seconds >= 0."""
    if not _is_number(delay):
        raise TypeError(f"delay must be a number of seconds, not {delay!r}")

    seconds = float(delay)  # type: ignore[arg-type]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"delay must be a finite number >= 0, not {delay!r}")

    return dt.timedelta(seconds=seconds)


def check_job_name(name: object) -> str:
    """Return `name` if it can name a job: a short, non-blank string."""
    if not isinstance(name, str):
        raise TypeError(f"job name must be a string, not {type(name).__name__}")

    if not name.strip():
        raise ValueError("job name must not be empty or blank")

    if name != name.strip():
        raise ValueError(f"job name {name!r} must not start or end with whitespace")

    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"job name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}"
        )

    if name.startswith("$") or "\x00" in name:
        raise ValueError(f"job name {name!r} must not start with '$' or contain NUL")

    return name


def check_aware(option: str, value: object) -> dt.datetime:
    """Return `value` in UTC if it is a timezone-aware datetime."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{option} must be a datetime, not {type(value).__name__}")

    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{option} must be timezone-aware; got a naive datetime")

    return value.astimezone(dt.timezone.utc)


def check_payload(data: Any, *, max_size: int | None) -> int:
    """Check that `data` encodes to BSON within `max_size`; return its size."""
    if isinstance(data, Mapping):
        for key in data:
            if isinstance(key, str) and key.startswith("$"):
                raise PayloadError(f"job data key {key!r} must not start with '$'")

    try:
        size = len(bson.encode({"data": data}))
    except (InvalidDocument, TypeError, OverflowError) as exc:
        raise PayloadError(f"job data cannot be stored as BSON: {exc}") from exc

    if max_size is not None and size > max_size:
        raise PayloadTooLargeError(
            f"job data is {size} bytes encoded; max_payload_size is {max_size}"
        )

    return size


def parse_job_id(job_id: object) -> ObjectId:
    """Return `job_id` as an `ObjectId`, or raise `ValueError` naming it."""
    if isinstance(job_id, ObjectId):
        return job_id

    if not isinstance(job_id, str):
        raise TypeError(f"job id must be a string, not {type(job_id).__name__}")

    try:
        return ObjectId(job_id)
    except InvalidId:
        raise ValueError(
            f"{job_id!r} is not a valid job id (24 hexadecimal characters)"
        ) from None
