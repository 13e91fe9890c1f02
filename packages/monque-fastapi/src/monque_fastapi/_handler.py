"""Job functions whose FastAPI dependencies are solved afresh for every job.

A job function takes the `Job` (a parameter annotated `Job`, or one named `job`)
and any number of dependencies declared with `Depends`, exactly as a route does.
FastAPI's own machinery solves them, so sub-dependencies, caching within one
job, `yield` dependencies and `app.dependency_overrides` behave as in a route.
Each job is one "request": its `yield` dependencies are closed when the job
ends, after the function returned or raised, and see the exception if it
raised.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AsyncExitStack
from typing import Annotated, Any, get_args, get_origin

import anyio
import anyio.to_thread
from fastapi import FastAPI, params
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant, solve_dependencies
from starlette.requests import Request

from monque import Job

__all__ = ["JobHandler"]

_REQUEST_FIELDS = (
    "path_params",
    "query_params",
    "header_params",
    "cookie_params",
    "body_params",
)


class JobHandler:
    """A job function and the dependency tree FastAPI solves before each call.

    Args:
        name: The full job name, used in messages.
        func: The job function, `async def` or plain `def` (which runs in a
            worker thread).

    Raises:
        TypeError: A parameter is neither the job nor a dependency, or a
            dependency reads the HTTP request (path, query, headers, cookies
            or body), which a job does not have.
    """

    def __init__(self, name: str, func: Callable[..., Any]) -> None:
        if not callable(func):
            raise TypeError(f"job handler for {name!r} must be callable, not {func!r}")

        self.name = name
        self.func = func
        self.job_param, signature = _split_job_parameter(name, func)
        self.is_async = _is_async(func)
        self.dependant = get_dependant(
            path=f"/monque/{name}", call=_signature_only(signature)
        )
        unusable = sorted(set(_request_fields(self.dependant)))
        if unusable:
            raise TypeError(
                f"job handler {name!r} cannot take {', '.join(unusable)}: a "
                "parameter must be the Job or declared with Depends(...), and "
                "dependencies of a job cannot read path, query, header, cookie "
                "or body parameters"
            )

    def bind(
        self, app: FastAPI, state: Mapping[str, Any], *, threads: int
    ) -> Callable[[Job], Awaitable[Any]]:
        """Return the handler to register with `Monque` for this app.

        Args:
            app: The app whose `dependency_overrides` apply and which
                dependencies see as `request.app`.
            state: The lifespan state, which dependencies see as
                `request.state`.
            threads: For a plain `def` function, how many may run at once in
                worker threads: the job's concurrency. The threads are not
                taken from the pool that the app's sync routes share.
        """
        limiter = anyio.CapacityLimiter(threads)

        async def handle(job: Job) -> Any:
            return await self.call(job, app=app, state=state, limiter=limiter)

        handle.__name__ = handle.__qualname__ = f"handle_{self.name}"
        return handle

    async def call(
        self,
        job: Job,
        *,
        app: FastAPI,
        state: Mapping[str, Any],
        limiter: anyio.CapacityLimiter | None = None,
    ) -> Any:
        """Solve the dependencies for `job`, call the function, then clean up."""
        failure: Exception | None = None
        result: Any = None
        async with AsyncExitStack() as stack:
            request = Request(_job_scope(job, app=app, state=state, stack=stack))
            solved = await solve_dependencies(
                request=request,
                dependant=self.dependant,
                dependency_overrides_provider=app,
                async_exit_stack=stack,
                embed_body_fields=False,
            )
            if solved.errors:
                raise TypeError(
                    f"the dependencies of job handler {self.name!r} could not "
                    f"be solved: {solved.errors}"
                )

            arguments = dict(solved.values)
            if self.job_param is not None:
                arguments[self.job_param] = job

            try:
                result = await self._invoke(arguments, limiter)
            except Exception as exc:
                failure = exc
                raise

        if failure is not None:
            # A `yield` dependency swallowed the handler's exception; the job
            # failed all the same.
            raise failure

        return result

    async def _invoke(
        self, arguments: dict[str, Any], limiter: anyio.CapacityLimiter | None
    ) -> Any:
        if self.is_async:
            return await self.func(**arguments)

        return await anyio.to_thread.run_sync(
            functools.partial(self.func, **arguments),
            abandon_on_cancel=True,
            limiter=limiter,
        )


def _split_job_parameter(
    name: str, func: Callable[..., Any]
) -> tuple[str | None, inspect.Signature]:
    """Find the parameter that receives the job; return it and the others."""
    try:
        signature = inspect.signature(func, eval_str=True)
    except (NameError, TypeError) as exc:
        raise TypeError(
            f"cannot read the parameters of job handler {name!r}: {exc}; "
            "annotations are evaluated in the module's namespace, so the types "
            "and dependencies they name must be importable from there"
        ) from exc

    params = list(signature.parameters.values())
    typed = [p.name for p in params if _is_job_annotation(p.annotation)]
    if len(typed) > 1:
        raise TypeError(
            f"job handler {name!r} has more than one Job parameter: {typed}"
        )

    job_param = typed[0] if typed else None
    if job_param is None and "job" in signature.parameters:
        candidate = signature.parameters["job"]
        if candidate.annotation is inspect.Parameter.empty and (
            candidate.default is inspect.Parameter.empty
        ):
            job_param = "job"

    others = [p for p in params if p.name != job_param]
    return job_param, signature.replace(parameters=others)


def _is_job_annotation(annotation: Any) -> bool:
    if annotation is Job:
        return True

    # Annotated[Job, ...] is the job too, unless it declares a dependency.
    if get_origin(annotation) is not Annotated:
        return False

    base, *metadata = get_args(annotation)
    return base is Job and not any(isinstance(m, params.Depends) for m in metadata)


def _is_async(func: Callable[..., Any]) -> bool:
    while isinstance(func, functools.partial):
        func = func.func

    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - callable objects
    )


def _signature_only(signature: inspect.Signature) -> Callable[..., Any]:
    """A stand-in callable that shows FastAPI the parameters other than the job."""

    def job_dependencies(**values: Any) -> None:
        """Never called: FastAPI reads only its signature."""

    job_dependencies.__signature__ = signature  # type: ignore[attr-defined]
    return job_dependencies


def _request_fields(dependant: Dependant) -> Iterator[str]:
    for field in _REQUEST_FIELDS:
        for param in getattr(dependant, field, ()):
            yield param.name

    for sub in dependant.dependencies:
        yield from _request_fields(sub)


def _job_scope(
    job: Job, *, app: FastAPI, state: Mapping[str, Any], stack: AsyncExitStack
) -> dict[str, Any]:
    """The HTTP-like scope a job's dependencies see as their request."""
    path = f"/monque/jobs/{job.name}"
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": None,
        "server": None,
        "path_params": {},
        "app": app,
        # Like a request, a job gets a shallow copy of the lifespan state.
        "state": dict(state),
        "monque.job": job,
        # FastAPI closes "yield" dependencies through these stacks; a job
        # closes both when it ends.
        "fastapi_astack": stack,
        "fastapi_inner_astack": stack,
        "fastapi_function_astack": stack,
    }
