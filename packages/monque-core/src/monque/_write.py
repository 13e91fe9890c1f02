"""Retrying the writes that record a job's outcome through a database outage."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
from pymongo.errors import PyMongoError

__all__ = ["retry_write"]

logger = logging.getLogger("monque.store")


async def retry_write(
    action: str, write: Callable[[], Awaitable[bool]], *, deadline: float
) -> bool:
    """Run `write` until it answers, retrying driver errors for `deadline` seconds.

    Returns what `write` returned, or `False` once the deadline passed; the job
    is then left to the stale sweep, which hands it to another attempt.
    """
    pause = 0.1
    give_up_at = anyio.current_time() + deadline
    while True:
        try:
            return await write()
        except PyMongoError as exc:  # noqa: PERF203 - retrying is the point
            if anyio.current_time() + pause > give_up_at:
                logger.error(
                    "Giving up on the %s write after %.0f s: %s",
                    action,
                    deadline,
                    exc,
                    extra={"action": action},
                )
                return False

            logger.warning(
                "The %s write failed (%s); retrying in %.1f s",
                action,
                exc,
                pause,
                extra={"action": action},
            )
            await anyio.sleep(pause)
            pause = min(pause * 2, 5.0)
