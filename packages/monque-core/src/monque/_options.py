"""The validated options of one `Monque` instance."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

from ._validation import (
    check_bool,
    check_limit,
    check_optional_positive,
    check_positive,
    check_positive_int,
    check_retries,
)

__all__ = ["MonqueOptions"]


def _default_instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class MonqueOptions:
    """Every tunable of a `Monque` instance, checked once at construction."""

    collection_name: str = "monque_jobs"
    max_concurrency: int | None = None
    worker_concurrency: int = 5
    poll_interval: float = 1.0
    max_retries: int = 10
    base_retry_interval: float = 1.0
    max_backoff: float = 86400.0
    shutdown_timeout: float = 30.0
    heartbeat_interval: float = 5.0
    lock_timeout: float = 30.0
    stale_check_interval: float | None = None
    max_recoveries: int = 5
    max_payload_size: int | None = 1024 * 1024
    instance_id: str = ""
    create_indexes: bool = True
    completed_retention: float | None = None
    failed_retention: float | None = None
    cleanup_interval: float = 60.0
    change_streams: bool = True
    batch_claims: bool = True
    ack_window: float | None = 0.005

    def __post_init__(self) -> None:
        name = self.collection_name
        if not isinstance(name, str):
            raise TypeError(f"collection_name must be a string, not {name!r}")

        if not name or name.startswith(("$", "system.")) or "\x00" in name:
            raise ValueError(f"collection_name {name!r} is not a valid collection name")

        check_limit("max_concurrency", self.max_concurrency)
        check_positive_int("worker_concurrency", self.worker_concurrency)
        check_retries("max_retries", self.max_retries)
        check_retries("max_recoveries", self.max_recoveries)
        check_limit("max_payload_size", self.max_payload_size)
        check_bool("create_indexes", self.create_indexes)
        check_bool("change_streams", self.change_streams)
        check_bool("batch_claims", self.batch_claims)
        for option in (
            "poll_interval",
            "base_retry_interval",
            "max_backoff",
            "shutdown_timeout",
            "heartbeat_interval",
            "lock_timeout",
            "cleanup_interval",
        ):
            object.__setattr__(
                self, option, check_positive(option, getattr(self, option))
            )

        interval = check_optional_positive(
            "stale_check_interval", self.stale_check_interval
        )
        object.__setattr__(self, "stale_check_interval", interval)
        for option in ("completed_retention", "failed_retention", "ack_window"):
            value = check_optional_positive(option, getattr(self, option))
            object.__setattr__(self, option, value)

        if self.lock_timeout <= self.heartbeat_interval:
            raise ValueError(
                f"lock_timeout ({self.lock_timeout:g} s) must be longer than "
                f"heartbeat_interval ({self.heartbeat_interval:g} s), or live jobs "
                "would be recovered as stale"
            )

        if not isinstance(self.instance_id, str):
            raise TypeError(f"instance_id must be a string, not {self.instance_id!r}")

        if not self.instance_id:
            object.__setattr__(self, "instance_id", _default_instance_id())

    @property
    def sweep_interval(self) -> float:
        """Seconds between two sweeps for stale jobs."""
        return self.stale_check_interval or self.lock_timeout / 2
