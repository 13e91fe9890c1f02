"""`JobRouter`: job handlers and cron jobs grouped under one name prefix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from monque import DuplicateHandlerError

from ._handler import JobHandler

__all__ = ["CronSchedule", "JobDefinition", "JobRouter"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class CronSchedule:
    """When a cron job runs.

    Attributes:
        expression: A 5-field cron expression or an alias such as `@hourly`.
        timezone: The IANA timezone the expression is read in.
        unique_key: Tells apart several schedules of one job name; `None`
            leaves `Monque.schedule`'s default, one schedule per job name.
        data: The payload each run receives.
    """

    expression: str
    timezone: str
    unique_key: str | None = None
    data: Any = None


@dataclass(frozen=True)
class JobDefinition:
    """A job handler declared on a `JobRouter`.

    Attributes:
        name: The full job name, `prefix.name`.
        handler: The function and its FastAPI dependencies.
        concurrency: Jobs of this name one instance runs at once; the
            settings' `worker_concurrency` when `None`.
        max_retries: Failed attempts before a job fails for good.
        timeout: Seconds one attempt may run.
        cron: The schedule of a cron job, `None` for a job run on demand.
    """

    name: str
    handler: JobHandler
    concurrency: int | None = None
    max_retries: int | None = None
    timeout: float | None = None
    cron: CronSchedule | None = None


def _check_part(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {value!r}")

    if value != value.strip() or value.startswith(".") or value.endswith("."):
        raise ValueError(
            f"{what} {value!r} must not start or end with a dot or whitespace"
        )

    return value


class JobRouter:
    """Groups job handlers under a name prefix, as `APIRouter` groups routes.

    Handlers are registered with the scheduler by `monque_lifespan` when the
    app starts with job processing enabled. A handler takes the `Job` and may
    declare FastAPI dependencies with `Depends`, solved for each job.

    ```python
    email = JobRouter(prefix="email")

    @email.job("send", concurrency=2)
    async def send(job: Job, mailer: Annotated[Mailer, Depends(get_mailer)]):
        await mailer.send(**job.data)
    ```

    Args:
        prefix: Prepended with a dot to every job name: `email` and `send`
            make the job `email.send`. An empty prefix keeps names as given.
    """

    def __init__(self, *, prefix: str = "") -> None:
        self.prefix = _check_part("prefix", prefix)
        self._jobs: dict[str, JobDefinition] = {}

    @property
    def jobs(self) -> tuple[JobDefinition, ...]:
        """The declared jobs and cron jobs, in declaration order."""
        return tuple(self._jobs.values())

    def full_name(self, name: str) -> str:
        """Return the job name `name` gets on this router."""
        name = _check_part("job name", name)
        if not name:
            raise ValueError("job name must not be empty")

        return f"{self.prefix}.{name}" if self.prefix else name

    def job(
        self,
        name: str,
        *,
        concurrency: int | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> Callable[[F], F]:
        """Declare the decorated function as the handler of `prefix.name`.

        Args:
            name: The job name within this router.
            concurrency: Jobs of this name one instance runs at once; the
                settings' `worker_concurrency` by default.
            max_retries: Failed attempts before a job fails for good.
            timeout: Seconds one attempt may run before it is cancelled.

        Returns:
            A decorator that returns the function unchanged.

        Raises:
            DuplicateHandlerError: The router already has a job of this name.
            TypeError: The function takes a parameter that is neither the job
                nor a dependency.
        """
        full_name = self.full_name(name)

        def decorate(func: F) -> F:
            self._add(
                JobDefinition(
                    name=full_name,
                    handler=JobHandler(full_name, func),
                    concurrency=concurrency,
                    max_retries=max_retries,
                    timeout=timeout,
                )
            )
            return func

        return decorate

    def cron(
        self,
        expression: str,
        *,
        name: str | None = None,
        unique_key: str | None = None,
        timezone: str = "UTC",
        data: Any = None,
        concurrency: int | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> Callable[[F], F]:
        """Declare the decorated function as a job that runs on a cron schedule.

        At start-up, a processing app registers the handler and schedules the
        recurring job with `Monque.schedule`, which is idempotent: however many
        instances start, there is one recurring job, updated to the declared
        expression, timezone and data.

        Args:
            expression: A 5-field cron expression such as `*/5 * * * *`, or an
                alias such as `@daily`.
            name: The job name within this router; the function's name by
                default.
            unique_key: Tells apart several schedules of one job name; by
                default a job name has one schedule.
            timezone: The IANA timezone the expression is read in.
            data: The payload every run receives.
            concurrency: Runs of this job one instance may have at once.
            max_retries: Failed attempts of one run before it fails for good.
            timeout: Seconds one attempt may run before it is cancelled.

        Returns:
            A decorator that returns the function unchanged.

        Raises:
            DuplicateHandlerError: The router already has a job of this name.
        """
        given: object = expression
        if not isinstance(given, str) or not given.strip():
            raise ValueError(f"cron expression must be a non-empty string: {given!r}")

        def decorate(func: F) -> F:
            full_name = self.full_name(name if name is not None else func.__name__)
            self._add(
                JobDefinition(
                    name=full_name,
                    handler=JobHandler(full_name, func),
                    concurrency=concurrency,
                    max_retries=max_retries,
                    timeout=timeout,
                    cron=CronSchedule(
                        expression=expression,
                        timezone=timezone,
                        unique_key=unique_key,
                        data=data,
                    ),
                )
            )
            return func

        return decorate

    def _add(self, definition: JobDefinition) -> None:
        if definition.name in self._jobs:
            raise DuplicateHandlerError(
                f"job {definition.name!r} is declared twice on the same JobRouter"
            )

        self._jobs[definition.name] = definition

    def __repr__(self) -> str:
        return f"JobRouter(prefix={self.prefix!r}, jobs={list(self._jobs)})"
