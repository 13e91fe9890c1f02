"""Job filters and cursors built from untrusted values carry no operators."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from bson import ObjectId
from hypothesis import given
from hypothesis import strategies as st

from monque import JobFilter, JobStatus
from monque._filters import decode_cursor, encode_cursor

UTC = dt.timezone.utc
ALLOWED_OPERATORS = {"$in", "$gte", "$lt"}

# Values as they come out of JSON bodies and query strings.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
operator_dicts = st.dictionaries(
    st.sampled_from(["$ne", "$gt", "$where", "$regex", "$in", "$exists"]),
    json_values,
    min_size=1,
    max_size=2,
)


def _operators(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {key for key in value if key.startswith("$")}
        for item in value.values():
            found |= _operators(item)

        return found

    if isinstance(value, list):
        return set().union(*(_operators(item) for item in value))

    return set()


@given(name=json_values | operator_dicts, status=json_values | operator_dicts)
def test_untrusted_values_never_become_operators(name: Any, status: Any) -> None:
    try:
        where = JobFilter(name=name, status=status)
    except (TypeError, ValueError):
        return

    query = where.to_query()
    assert _operators(query) <= ALLOWED_OPERATORS
    if name is not None:
        assert query["name"] == name
        assert isinstance(name, str)


@given(name=operator_dicts)
def test_operator_documents_are_type_errors(name: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        JobFilter(name=name)  # type: ignore[arg-type]

    with pytest.raises(TypeError):
        JobFilter(status=name)

    with pytest.raises(TypeError):
        JobFilter(created_after=name)  # type: ignore[arg-type]


@given(statuses=st.lists(st.sampled_from(list(JobStatus)), min_size=1))
def test_status_lists_become_in_queries(statuses: list[JobStatus]) -> None:
    query = JobFilter(status=statuses).to_query()
    wanted = list(dict.fromkeys(status.value for status in statuses))

    if len(wanted) == 1:
        assert query == {"status": wanted[0]}
    else:
        assert query == {"status": {"$in": wanted}}


def test_time_ranges_are_half_open() -> None:
    low = dt.datetime(2026, 1, 1, tzinfo=UTC)
    high = dt.datetime(2026, 2, 1, tzinfo=UTC)

    query = JobFilter(next_run_after=low, next_run_before=high).to_query()

    assert query == {"nextRunAt": {"$gte": low, "$lt": high}}


@given(newest_first=st.booleans())
def test_cursors_round_trip(newest_first: bool) -> None:
    oid = ObjectId()

    cursor = encode_cursor(oid, newest_first=newest_first)

    assert decode_cursor(cursor, newest_first=newest_first) == oid


@given(text=st.text(max_size=30))
def test_arbitrary_cursors_are_refused_cleanly(text: str) -> None:
    try:
        decode_cursor(text, newest_first=False)
    except ValueError:
        return

    assert len(text) == 17
