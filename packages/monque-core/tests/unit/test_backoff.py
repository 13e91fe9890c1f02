"""Retry delays grow exponentially from the base, stay under the cap, and jitter."""

from __future__ import annotations

import random

import pytest

from monque import retry_delay


class Fixed(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize(
    ("fail_count", "ceiling"), [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0)]
)
def test_delay_doubles_per_failure(fail_count: int, ceiling: float) -> None:
    assert retry_delay(fail_count, base=1.0, cap=1000.0, rng=Fixed(1.0)) == ceiling
    assert retry_delay(fail_count, base=1.0, cap=1000.0, rng=Fixed(0.0)) == ceiling / 2


def test_delay_never_exceeds_the_cap() -> None:
    assert retry_delay(40, base=1.0, cap=60.0, rng=Fixed(1.0)) == 60.0
    assert retry_delay(10_000, base=1.0, cap=60.0, rng=Fixed(0.5)) == 45.0


def test_jitter_spreads_delays() -> None:
    rng = random.Random(7)
    delays = {retry_delay(4, base=1.0, cap=100.0, rng=rng) for _ in range(20)}

    assert len(delays) > 10
    assert all(4.0 <= delay <= 8.0 for delay in delays)


def test_fail_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="fail_count"):
        retry_delay(0, base=1.0, cap=10.0)
