"""Retry delays: exponential growth, a cap, and jitter."""

from __future__ import annotations

import random

__all__ = ["retry_delay"]


def retry_delay(
    fail_count: int,
    *,
    base: float,
    cap: float,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before the attempt after `fail_count` failures.

    The delay doubles with each failure from `base`, never exceeds `cap`, and is
    drawn uniformly from the upper half of that value so that jobs which failed
    together do not retry together.

    Args:
        fail_count: Failures so far, at least 1.
        base: The delay after the first failure, in seconds.
        cap: The largest delay, in seconds.
        rng: The random source; the module's by default.
    """
    if fail_count < 1:
        raise ValueError(f"fail_count must be at least 1, not {fail_count}")

    exponent = min(fail_count - 1, 64)
    ceiling = min(base * 2.0**exponent, cap)
    draw = (rng or random).random()
    return ceiling / 2 + draw * ceiling / 2
