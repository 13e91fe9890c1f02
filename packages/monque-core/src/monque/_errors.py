"""The exceptions raised by monque.

Every exception that monque raises on purpose derives from `MonqueError`::

    MonqueError
    ├── DatabaseError
    ├── DuplicateHandlerError
    ├── InvalidCronError
    ├── InvalidJobStateError
    ├── JobNotFoundError
    ├── JobTimeoutError
    ├── NonRetryableError
    ├── NotInitializedError
    ├── PayloadError
    │   ├── PayloadTooLargeError
    │   └── PayloadValidationError (also a NonRetryableError)
    └── RetryAfter

Bad arguments (a wrong type, a value out of range) raise the standard `TypeError`
or `ValueError` with a message that names the argument.
"""

from __future__ import annotations

__all__ = [
    "DatabaseError",
    "DuplicateHandlerError",
    "InvalidCronError",
    "InvalidJobStateError",
    "JobNotFoundError",
    "JobTimeoutError",
    "MonqueError",
    "NonRetryableError",
    "NotInitializedError",
    "PayloadError",
    "PayloadTooLargeError",
    "PayloadValidationError",
    "RetryAfter",
]


class MonqueError(Exception):
    """The root of every exception monque raises on purpose."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (type(self).__doc__ or "").strip())


class DatabaseError(MonqueError):
    """Raised when a database operation fails; the driver error is the cause."""


class DuplicateHandlerError(MonqueError):
    """Raised when a handler is registered for a job name that already has one."""


class InvalidCronError(MonqueError):
    """Raised when a cron expression or its timezone cannot be used."""


class InvalidJobStateError(MonqueError):
    """Raised when an action does not apply to a job in its current status."""

    def __init__(
        self, job_id: str, status: str, action: str, reason: str | None = None
    ) -> None:
        self.job_id = job_id
        self.status = status
        self.action = action
        message = f"cannot {action} job {job_id}: its status is {status!r}"
        super().__init__(f"{message}; {reason}" if reason else message)


class JobNotFoundError(MonqueError):
    """Raised when no job has the given id."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id!r}")


class JobTimeoutError(MonqueError):
    """Raised inside monque when a handler runs longer than its timeout."""


class NonRetryableError(MonqueError):
    """Raised by a handler to fail its job at once, without further retries."""


class NotInitializedError(MonqueError):
    """Raised when a `Monque` instance is used before `initialize()`."""


class PayloadError(MonqueError):
    """Raised when job data cannot be stored or does not fit its model."""


class PayloadTooLargeError(PayloadError):
    """Raised when encoded job data is larger than `max_payload_size`."""


class PayloadValidationError(PayloadError, NonRetryableError):
    """Raised when job data does not fit the model its handler declares.

    At enqueue nothing is stored; for a stored job the job fails at once,
    without retries, with this error as its `failReason`.
    """


class RetryAfter(MonqueError):
    """Raised by a handler to retry its job after a chosen delay in seconds."""

    def __init__(self, delay: float, message: str | None = None) -> None:
        if isinstance(delay, bool) or not isinstance(delay, (int, float)):
            raise TypeError("RetryAfter delay must be a number of seconds")

        if delay < 0:
            raise ValueError("RetryAfter delay must not be negative")

        self.delay = float(delay)
        super().__init__(message or f"retry requested in {self.delay:g} s")
