"""The `monque` command: `monque worker module:attribute` processes jobs.

The worker runs in a process of its own, so that API processes can stay
producers. Its target is a `Monque` instance, or an ASGI app (such as a FastAPI
app using `monque_fastapi.monque_lifespan`) whose lifespan starts one: the
worker then runs the app's lifespan exactly as a server would, so the jobs find
whatever the app sets up, but serves no HTTP.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any, Protocol

import anyio
import click
from anyio.abc import TaskGroup

from ._scheduler import Monque

__all__ = ["main"]

logger = logging.getLogger("monque.cli")

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
HEALTH_CHECK_INTERVAL = 1.0


class _Session(Protocol):
    """Starts and stops the `Monque` instance a target provides."""

    async def start(self) -> Monque: ...

    async def stop(self) -> None: ...


class _InstanceSession:
    """A `Monque` instance given directly; its client is closed at the end.

    An unclosed client would keep its server monitors running while the event
    loop shuts down, which can hold up the exit by a heartbeat period.
    """

    def __init__(self, monque: Monque) -> None:
        self.monque = monque

    async def start(self) -> Monque:
        try:
            await self.monque.initialize()
            await self.monque.start()
        except BaseException:
            await self._close_client()
            raise

        return self.monque

    async def stop(self) -> None:
        try:
            await self.monque.stop()
        finally:
            await self._close_client()

    async def _close_client(self) -> None:
        with anyio.CancelScope(shield=True):
            await self.monque.db.client.close()


class _AppSession:
    """An ASGI app, driven through the lifespan protocol as a server would."""

    def __init__(self, app: ASGIApp, task_group: TaskGroup) -> None:
        self.app = app
        self.task_group = task_group
        self.state: dict[str, Any] = {}
        self._to_app, self._app_inbox = anyio.create_memory_object_stream[Message](2)
        self._app_outbox, self._from_app = anyio.create_memory_object_stream[Message](2)
        self._app_done = anyio.Event()
        self._app_error: Exception | None = None

    async def start(self) -> Monque:
        self.task_group.start_soon(self._run_app, name="monque worker app lifespan")
        await self._exchange("startup")
        monque = self.state.get("monque")
        if monque is None:
            monque = getattr(getattr(self.app, "state", None), "monque", None)

        if not isinstance(monque, Monque):
            await self._exchange("shutdown")
            raise click.ClickException(
                "the app started, but its lifespan provided no Monque instance "
                "(in the lifespan state or on app.state under 'monque'); build "
                "the app with monque_fastapi.monque_lifespan"
            )

        return monque

    async def stop(self) -> None:
        await self._exchange("shutdown")

    async def _run_app(self) -> None:
        scope: Message = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self._app_inbox.receive, self._app_outbox.send)
        except Exception as exc:
            self._app_error = exc
        finally:
            self._app_outbox.close()
            self._app_done.set()

    async def _exchange(self, phase: str) -> None:
        await self._to_app.send({"type": f"lifespan.{phase}"})
        try:
            reply = await self._from_app.receive()
        except anyio.EndOfStream:
            reply = {}

        if reply.get("type") == f"lifespan.{phase}.complete":
            return

        # The app's own exception says more than the failure message it sent.
        await self._app_done.wait()
        if self._app_error is not None:
            raise self._app_error

        reason = reply.get("message") or "the app ended its lifespan"
        raise click.ClickException(f"the app's lifespan {phase} failed: {reason}")


def _load(target: str) -> object:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise click.BadParameter(
            f"{target!r} is not of the form module:attribute, such as "
            "'myapp.worker:monque' or 'myapp.main:app'",
            param_hint="TARGET",
        )

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (
            module_name == exc.name or module_name.startswith(f"{exc.name}.")
        ):
            raise

        raise click.BadParameter(
            f"no module named {exc.name!r}; check the name and --app-dir",
            param_hint="TARGET",
        ) from None

    try:
        return functools.reduce(getattr, attribute.split("."), module)
    except AttributeError:
        raise click.BadParameter(
            f"module {module_name!r} has no attribute {attribute!r}",
            param_hint="TARGET",
        ) from None


async def _build(target: object) -> object:
    if not callable(target):
        raise click.BadParameter(
            f"--factory needs a callable target, not {type(target).__name__}",
            param_hint="TARGET",
        )

    made = target()
    if inspect.isawaitable(made):
        made = await made

    return made


def _session_for(target: object, task_group: TaskGroup) -> _Session:
    if isinstance(target, Monque):
        return _InstanceSession(target)

    if callable(target) and _takes_asgi_arguments(target):
        return _AppSession(target, task_group)

    raise click.BadParameter(
        f"a {type(target).__name__} is neither a Monque instance nor an ASGI app; "
        "pass --factory if it is a function that returns one",
        param_hint="TARGET",
    )


def _takes_asgi_arguments(target: Callable[..., Any]) -> bool:
    try:
        inspect.signature(target).bind(None, None, None)
    except TypeError:
        return False
    except ValueError:
        return True  # no signature to read, as for some builtins: try it

    return True


async def _serve(target: object, *, factory: bool) -> int:
    """Run the worker until a signal or a failure; return the exit code."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        error: Exception | None = None
        code = 1
        # Errors are carried out of the task group by hand, so that they reach
        # click as themselves rather than inside an exception group.
        async with anyio.create_task_group() as task_group:
            try:
                if factory:
                    target = await _build(target)

                session = _session_for(target, task_group)
                code = await _work(session, signals)
            except Exception as exc:
                error = exc

            task_group.cancel_scope.cancel()

    if error is not None:
        raise error

    return code


async def _work(session: _Session, signals: AsyncIterator[int]) -> int:
    try:
        monque = await session.start()
    except click.ClickException:
        raise
    except Exception as exc:
        logger.debug("Start-up failed", exc_info=True, extra={"action": "start"})
        raise click.ClickException(
            f"the worker could not start: {type(exc).__name__}: {exc}"
        ) from exc

    if not monque.is_healthy():
        await session.stop()
        raise click.ClickException(
            "the Monque instance started but is not processing jobs; if it comes "
            "from a FastAPI app, unset MONQUE_DISABLE_JOB_PROCESSING (or "
            "disable_job_processing) for the worker process"
        )

    logger.info(
        "Worker ready: instance %s processes %s; stop it with SIGINT or SIGTERM",
        monque.instance_id,
        ", ".join(sorted(monque.handlers)) or "no job names",
        extra={"action": "worker_ready"},
    )
    received = await _wait_for_stop(monque, signals)
    if received is None:
        logger.error(
            "The instance stopped processing on its own; exiting",
            extra={"action": "worker_failed"},
        )
    else:
        logger.info(
            "Received %s: stopping gracefully, running jobs have up to %g s; "
            "signal again to stop at once",
            received,
            monque.options.shutdown_timeout,
            extra={"action": "worker_stop"},
        )

    if not await _stop(session, signals):
        logger.warning(
            "Stopped at once on a second signal; unfinished jobs are handed back",
            extra={"action": "worker_stop"},
        )
        return 1

    logger.info("Worker stopped", extra={"action": "worker_stop"})
    return 0 if received is not None else 1


async def _wait_for_stop(monque: Monque, signals: AsyncIterator[int]) -> str | None:
    """Return the name of the signal that stopped the worker; `None` if it died."""
    received: str | None = None
    async with anyio.create_task_group() as watchers:

        async def watch_signals() -> None:
            nonlocal received
            async for signum in signals:
                received = signal.Signals(signum).name
                break

            watchers.cancel_scope.cancel()

        async def watch_health() -> None:
            while True:
                await anyio.sleep(HEALTH_CHECK_INTERVAL)
                if not monque.is_healthy():
                    break

            watchers.cancel_scope.cancel()

        watchers.start_soon(watch_signals)
        watchers.start_soon(watch_health)

    return received


async def _stop(session: _Session, signals: AsyncIterator[int]) -> bool:
    """Stop gracefully; return false if a second signal cut the stop short."""
    error: Exception | None = None
    # Set by the signal itself: whether the cancellation surfaces as caught
    # depends on how the event loop delivers it, which differs across Pythons.
    forced = False
    with anyio.CancelScope() as force:
        async with anyio.create_task_group() as watcher:

            async def force_on_signal() -> None:
                nonlocal forced
                async for _ in signals:
                    forced = True
                    force.cancel()

            watcher.start_soon(force_on_signal)
            try:
                await session.stop()
            except Exception as exc:
                error = exc

            watcher.cancel_scope.cancel()

    if error is not None:
        raise click.ClickException(
            f"stopping the worker failed: {type(error).__name__}: {error}"
        ) from error

    return not forced


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="monque-core", prog_name="monque")
def main() -> None:
    """Monque: persistent jobs for Python services that run MongoDB."""


@main.command()
@click.argument("target")
@click.option(
    "--factory",
    is_flag=True,
    help="TARGET is a function, sync or async, that returns the instance or app.",
)
@click.option(
    "--app-dir",
    default=".",
    show_default=True,
    type=click.Path(exists=True, file_okay=False),
    help="Look for TARGET's module in this directory first.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
    help="The lowest level of the log lines written to stderr.",
)
def worker(target: str, factory: bool, app_dir: str, log_level: str) -> None:
    """Process the jobs of TARGET until SIGINT or SIGTERM.

    TARGET is module:attribute and names a monque.Monque instance, or an ASGI
    app (such as a FastAPI app built with monque_fastapi.monque_lifespan) whose
    lifespan starts one. The worker closes the client of an instance it was
    given when it stops; an app's lifespan closes its own.

    On SIGINT or SIGTERM the worker stops claiming jobs, gives running jobs the
    instance's shutdown_timeout to finish, hands the rest back to pending, and
    exits 0. A second signal stops it at once, with exit code 1.
    """
    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT)
    sys.path.insert(0, os.path.abspath(app_dir))
    loaded = _load(target)
    code = anyio.run(functools.partial(_serve, loaded, factory=factory))
    sys.exit(code)


if __name__ == "__main__":
    main()
