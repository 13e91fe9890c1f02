"""Cron expressions: parsing, aliases, timezones and daylight-saving changes."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monque import CronSchedule, InvalidCronError, Job, JobStatus
from monque._cron import next_cron_run

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_next_run_is_strictly_after_the_moment() -> None:
    schedule = CronSchedule.parse("*/15 * * * *")

    assert schedule.next_after(utc(2026, 1, 1, 10, 0)) == utc(2026, 1, 1, 10, 15)
    assert schedule.next_after(
        utc(2026, 1, 1, 10) + dt.timedelta(microseconds=1)
    ) == utc(2026, 1, 1, 10, 15)
    assert schedule.next_after(utc(2026, 1, 1, 10, 14, 59)) == utc(2026, 1, 1, 10, 15)


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("@hourly", utc(2026, 3, 5, 11)),
        ("@daily", utc(2026, 3, 6)),
        ("@midnight", utc(2026, 3, 6)),
        ("@weekly", utc(2026, 3, 8)),
        ("@monthly", utc(2026, 4, 1)),
        ("@yearly", utc(2027, 1, 1)),
        ("@annually", utc(2027, 1, 1)),
        ("@DAILY", utc(2026, 3, 6)),
    ],
)
def test_aliases(alias: str, expected: dt.datetime) -> None:
    schedule = CronSchedule.parse(alias)

    assert schedule.next_after(utc(2026, 3, 5, 10, 30)) == expected


def test_named_days_and_months() -> None:
    schedule = CronSchedule.parse("0 9 * JAN-MAR mon-fri")

    # 2026-03-07 is a Saturday.
    assert schedule.next_after(utc(2026, 3, 6, 10)) == utc(2026, 3, 9, 9)


def test_expression_is_normalised() -> None:
    schedule = CronSchedule.parse("  0   9 * * *  ", "Europe/Berlin")

    assert schedule.expression == "0 9 * * *"
    assert schedule.timezone == "Europe/Berlin"


def test_local_time_in_winter_and_summer() -> None:
    schedule = CronSchedule.parse("0 9 * * *", "Europe/Berlin")

    # Winter: UTC+1; summer: UTC+2.
    assert schedule.next_after(utc(2026, 1, 10)) == utc(2026, 1, 10, 8)
    assert schedule.next_after(utc(2026, 7, 10)) == utc(2026, 7, 10, 7)


def test_daily_run_across_spring_forward_in_berlin() -> None:
    # On 2026-03-29 Berlin clocks jump from 02:00 to 03:00.
    schedule = CronSchedule.parse("0 9 * * *", "Europe/Berlin")
    before = schedule.next_after(utc(2026, 3, 28, 12))
    after = schedule.next_after(before)

    assert before == utc(2026, 3, 29, 7)
    assert after == utc(2026, 3, 30, 7)
    assert before.astimezone(BERLIN).hour == 9
    assert after - schedule.next_after(utc(2026, 3, 27, 12)) == dt.timedelta(hours=47)


def test_skipped_local_time_runs_once_just_after_the_change() -> None:
    schedule = CronSchedule.parse("30 2 * * *", "Europe/Berlin")
    runs = [schedule.next_after(utc(2026, 3, 28, 12))]
    runs.append(schedule.next_after(runs[-1]))

    assert runs[0].astimezone(BERLIN) == dt.datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN)
    assert runs[1] == utc(2026, 3, 30, 0, 30)


def test_repeated_local_time_runs_once_at_fall_back() -> None:
    # On 2026-10-25 Berlin clocks go back from 03:00 to 02:00.
    schedule = CronSchedule.parse("30 2 * * *", "Europe/Berlin")
    runs = [schedule.next_after(utc(2026, 10, 24, 12))]
    runs.append(schedule.next_after(runs[-1]))

    assert runs == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_hourly_runs_every_real_hour_across_fall_back() -> None:
    schedule = CronSchedule.parse("0 * * * *", "Europe/Berlin")
    moment = utc(2026, 10, 24, 23, 30)
    runs = []
    for _ in range(4):
        moment = schedule.next_after(moment)
        runs.append(moment)

    gaps = {b - a for a, b in itertools.pairwise(runs)}
    assert gaps == {dt.timedelta(hours=1)}


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "   ",
        "* * * *",
        "* * * * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 32 * *",
        "* * * 13 *",
        "* * * * 8",
        "0 0 30 2 *",
        "a b c d e",
        "@reboot",
        "@every 5m",
        "*/0 * * * *",
        "1-0 * * * *",
        "0 0 * * * " + "1" * 300,
    ],
)
def test_invalid_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(InvalidCronError):
        CronSchedule.parse(expression)


@pytest.mark.parametrize(
    "timezone", ["Mars/Olympus", "", "../../etc/passwd", "Europe/", "UTC+2"]
)
def test_invalid_timezones_are_rejected(timezone: str) -> None:
    with pytest.raises(InvalidCronError, match="timezone"):
        CronSchedule.parse("0 9 * * *", timezone)


@pytest.mark.parametrize("value", [None, 5, {"$ne": 1}, ["* * * * *"]])
def test_non_string_expressions_are_type_errors(value: object) -> None:
    with pytest.raises(TypeError):
        CronSchedule.parse(value)


def test_timezone_may_be_a_zoneinfo() -> None:
    assert CronSchedule.parse("0 9 * * *", BERLIN).timezone == "Europe/Berlin"


def test_naive_moment_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CronSchedule.parse("* * * * *").next_after(dt.datetime(2026, 1, 1))


def _job(repeat: str | None, timezone: str | None = None) -> Job:
    now = utc(2026, 1, 1)
    return Job(
        id="0" * 24,
        name="report",
        data=None,
        status=JobStatus.PROCESSING,
        next_run_at=now,
        created_at=now,
        updated_at=now,
        repeat_interval=repeat,
        timezone=timezone,
    )


def test_next_cron_run_of_a_recurring_job_is_after_now() -> None:
    before = dt.datetime.now(UTC)
    next_run = next_cron_run(_job("* * * * *", "Europe/Berlin"))

    assert next_run is not None
    assert before < next_run <= before + dt.timedelta(minutes=1)
    assert next_run.second == 0


def test_next_cron_run_of_other_jobs_is_none() -> None:
    assert next_cron_run(_job(None)) is None


def test_next_cron_run_of_a_broken_stored_expression_ends_the_schedule() -> None:
    assert next_cron_run(_job("not cron", "UTC")) is None
    assert next_cron_run(_job("* * * * *", "Nowhere/City")) is None


minutes = st.sets(st.integers(0, 59), min_size=1, max_size=4)
hours = st.sets(st.integers(0, 23), min_size=1, max_size=3)
zones = st.sampled_from(
    ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Tehran"]
)
moments = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),
    max_value=dt.datetime(2060, 1, 1),
    timezones=st.just(UTC),
)


def _listed(values: set[int]) -> str:
    return ",".join(str(v) for v in sorted(values))


@settings(max_examples=150, deadline=None)
@given(minutes=minutes, hours=hours, zone=zones, moment=moments)
def test_next_and_previous_runs_round_trip(
    minutes: set[int], hours: set[int], zone: str, moment: dt.datetime
) -> None:
    schedule = CronSchedule.parse(f"{_listed(minutes)} {_listed(hours)} * * *", zone)
    following = schedule.next_after(moment)

    assert following > moment
    assert following - moment <= dt.timedelta(days=2)
    assert following.tzinfo is not None
    assert following.microsecond == 0
    # No run lies between the moment and the next run.
    previous = schedule.previous_before(following)
    assert previous <= moment
    assert schedule.next_after(previous) == following


@settings(max_examples=100, deadline=None)
@given(minute=st.integers(0, 59), hour=st.integers(0, 23), zone=zones, moment=moments)
def test_runs_fall_on_the_wall_clock_time_unless_skipped(
    minute: int, hour: int, zone: str, moment: dt.datetime
) -> None:
    schedule = CronSchedule.parse(f"{minute} {hour} * * *", zone)
    local = schedule.next_after(moment).astimezone(ZoneInfo(zone))
    wanted = local.replace(hour=hour, minute=minute)

    # Either the run is at the wanted wall-clock time, or that time did not
    # exist that day and the run comes right after the clocks jumped.
    assert (local.hour, local.minute) == (hour, minute) or (
        wanted.astimezone(UTC).astimezone(ZoneInfo(zone)) != wanted
    )


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_invalid_cron(text: str) -> None:
    try:
        schedule = CronSchedule.parse(text)
    except InvalidCronError:
        return

    assert schedule.next_after(utc(2026, 1, 1)) > utc(2026, 1, 1)
