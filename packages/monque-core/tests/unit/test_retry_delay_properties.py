"""Property tests of retry delays: always within half the ceiling and the ceiling."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from monque import retry_delay

bases = st.floats(min_value=0.001, max_value=3600, allow_nan=False)
caps = st.floats(min_value=0.001, max_value=7 * 86400, allow_nan=False)
fail_counts = st.integers(min_value=1, max_value=10_000)


@given(fail_count=fail_counts, base=bases, cap=caps, seed=st.integers())
def test_delay_lies_in_the_upper_half_of_its_ceiling(
    fail_count: int, base: float, cap: float, seed: int
) -> None:
    ceiling = min(base * 2.0 ** min(fail_count - 1, 64), cap)

    delay = retry_delay(fail_count, base=base, cap=cap, rng=random.Random(seed))

    assert ceiling / 2 <= delay <= ceiling
    assert delay <= cap


@given(fail_count=st.integers(1, 60), base=bases, cap=caps)
def test_ceiling_never_shrinks_with_more_failures(
    fail_count: int, base: float, cap: float
) -> None:
    class Top(random.Random):
        def random(self) -> float:
            return 1.0

    now = retry_delay(fail_count, base=base, cap=cap, rng=Top())
    later = retry_delay(fail_count + 1, base=base, cap=cap, rng=Top())

    assert later >= now
