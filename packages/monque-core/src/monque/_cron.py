"""Cron expressions with IANA timezones: parsing and the next run of a schedule.

Expressions are the standard five fields (minute, hour, day of month, month,
day of week) or one of the aliases in `ALIASES`. They are evaluated in the
wall-clock time of their timezone, so ``0 9 * * *`` in ``Europe/Berlin`` runs
at nine in the morning in Berlin in winter and in summer. Across a
daylight-saving change, schedules follow Debian cron: a time that the clock
skips runs once just after the change, and a time that the clock passes twice
runs once.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from ._errors import InvalidCronError
from ._job import Job
from ._store import utcnow

__all__ = ["ALIASES", "CronSchedule", "next_cron_run"]

logger = logging.getLogger("monque.scheduler")

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

MAX_EXPRESSION_LENGTH = 200


def _zone(timezone: object) -> ZoneInfo:
    if isinstance(timezone, ZoneInfo):
        return timezone

    if not isinstance(timezone, str):
        raise TypeError(
            f"timezone must be an IANA name such as 'Europe/Berlin', not {timezone!r}"
        )

    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidCronError(
            f"unknown timezone {timezone!r}: use an IANA name such as 'Europe/Berlin'"
        ) from None


def _fields(expression: object) -> str:
    if not isinstance(expression, str):
        raise TypeError(f"cron expression must be a string, not {expression!r}")

    text = " ".join(expression.split())
    if not text:
        raise InvalidCronError("cron expression must not be empty")

    if len(text) > MAX_EXPRESSION_LENGTH:
        raise InvalidCronError(
            f"cron expression is {len(text)} characters long; "
            f"the limit is {MAX_EXPRESSION_LENGTH}"
        )

    fields = ALIASES.get(text.lower(), text)
    if fields.startswith("@"):
        raise InvalidCronError(
            f"unknown cron alias {text!r}; known ones are {', '.join(ALIASES)}"
        )

    if len(fields.split()) != 5:
        raise InvalidCronError(
            f"cron expression {text!r} must have 5 fields "
            "(minute hour day-of-month month day-of-week)"
        )

    return fields


@dataclass(frozen=True)
class CronSchedule:
    """A checked cron expression in its timezone.

    Attributes:
        expression: The expression as given, with runs of spaces collapsed;
            this is what a recurring job stores in `repeatInterval`.
        timezone: The IANA name of the timezone it is evaluated in.
    """

    expression: str
    timezone: str

    @classmethod
    def parse(cls, expression: object, timezone: object = "UTC") -> CronSchedule:
        """Check `expression` and `timezone` and return the schedule.

        Raises:
            TypeError: An argument is not a string.
            InvalidCronError: The expression or the timezone cannot be used.
        """
        zone = _zone(timezone)
        fields = _fields(expression)
        schedule = cls(" ".join(str(expression).split()), zone.key)
        try:
            CronSim(fields, dt.datetime(2000, 1, 1, tzinfo=zone))
        except (CronSimError, ValueError, IndexError) as exc:
            raise InvalidCronError(
                f"invalid cron expression {schedule.expression!r}: {exc}"
            ) from None

        return schedule

    @property
    def fields(self) -> str:
        """The five fields of the expression, with aliases spelled out."""
        return ALIASES.get(self.expression.lower(), self.expression)

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first run strictly after `moment`, in UTC.

        Raises:
            ValueError: `moment` is a naive datetime.
        """
        if moment.tzinfo is None:
            raise ValueError("moment must be a timezone-aware datetime")

        zone = ZoneInfo(self.timezone)
        local = moment.astimezone(zone)
        # Whole seconds: a tick at the very second of `moment` is not after it.
        runs = CronSim(self.fields, local.replace(microsecond=0))
        while True:
            run = next(runs).astimezone(dt.timezone.utc)
            if run > moment:
                return run

    def previous_before(self, moment: dt.datetime) -> dt.datetime:
        """The last run strictly before `moment`, in UTC.

        Raises:
            ValueError: `moment` is a naive datetime.
        """
        if moment.tzinfo is None:
            raise ValueError("moment must be a timezone-aware datetime")

        local = moment.astimezone(ZoneInfo(self.timezone))
        runs = CronSim(self.fields, local, reverse=True)
        while True:
            run = next(runs).astimezone(dt.timezone.utc)
            if run < moment:
                return run


def next_cron_run(job: Job) -> dt.datetime | None:
    """When a recurring job runs next, counted from now; `None` for other jobs.

    Ticks missed while no worker ran are not replayed: the next run is the
    first tick after the current time.
    """
    if job.repeat_interval is None:
        return None

    try:
        schedule = CronSchedule.parse(job.repeat_interval, job.timezone or "UTC")
    except (InvalidCronError, TypeError) as exc:
        # A document written by hand or by another client; completing the job
        # beats failing it over and over.
        logger.error(
            "Job %s (%s) stops recurring: %s",
            job.id,
            job.name,
            exc,
            extra={"action": "schedule", "job_id": job.id, "job_name": job.name},
        )
        return None

    return schedule.next_after(utcnow())
