"""Registered handlers and how one is called for a job."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread

from ._job import Job
from ._payload import PayloadModel, check_model, load_payload
from ._validation import (
    check_job_name,
    check_limit,
    check_optional_positive,
    check_retries,
)

__all__ = ["Handler", "HandlerSpec", "is_async_callable"]

Handler = Callable[[Job], Awaitable[Any] | Any]


def is_async_callable(func: object) -> bool:
    """Whether calling `func` returns an awaitable, seeing through partials."""
    while isinstance(func, functools.partial):
        func = func.func

    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - callable objects
    )


@dataclass(frozen=True)
class HandlerSpec:
    """A handler and the options it was registered with."""

    name: str
    func: Handler
    concurrency: int
    max_retries: int | None = None
    timeout: float | None = None
    model: type[PayloadModel] | None = None

    @classmethod
    def build(
        cls,
        name: str,
        func: Handler,
        *,
        concurrency: int | None,
        default_concurrency: int,
        max_retries: int | None,
        timeout: float | None,
        model: object = None,
    ) -> HandlerSpec:
        """Check the registration arguments and build the spec."""
        check_job_name(name)
        if not callable(func):
            raise TypeError(f"handler for {name!r} must be callable, not {func!r}")

        if max_retries is not None:
            check_retries("max_retries", max_retries)

        return cls(
            name=name,
            func=func,
            concurrency=check_limit("concurrency", concurrency) or default_concurrency,
            max_retries=max_retries,
            timeout=check_optional_positive("timeout", timeout),
            model=check_model(model),
        )

    @property
    def is_async(self) -> bool:
        """Whether the handler is a coroutine function."""
        return is_async_callable(self.func)

    async def call(self, job: Job, *, limiter: anyio.CapacityLimiter) -> Any:
        """Run the handler for `job`: awaited if async, in a worker thread if not.

        A sync handler cannot be interrupted: when the call is cancelled, monque
        stops waiting for it and the thread finishes on its own. With a `model`,
        the handler gets the job with its data as an instance of the model.

        Raises:
            PayloadValidationError: The job's data does not fit the model.
        """
        if self.model is not None:
            data = load_payload(job.name, job.data, self.model)
            job = dataclasses.replace(job, data=data)

        if self.is_async:
            return await self.func(job)

        return await anyio.to_thread.run_sync(
            self.func, job, limiter=limiter, abandon_on_cancel=True
        )
