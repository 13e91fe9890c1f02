"""`monque_lifespan`: run the scheduler for as long as a FastAPI app runs."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from monque import DatabaseError, DuplicateHandlerError, Monque, MonqueError

from ._router import JobDefinition, JobRouter
from ._settings import MonqueSettings

__all__ = ["AppLifespan", "DatabaseSource", "monque_lifespan"]

logger = logging.getLogger("monque.fastapi")

Database = AsyncDatabase[Any]
DatabaseSource = Database | Callable[[], Database | Awaitable[Database]]
"""An `AsyncDatabase`, or a function (sync or async) called at start-up for one."""

AppLifespan = Callable[[FastAPI], AbstractAsyncContextManager[Mapping[str, Any] | None]]
"""An app's own lifespan: a function of the app returning an async context
manager, such as one decorated with `contextlib.asynccontextmanager`."""

DISABLED_MESSAGE = "Monque: Job processing is disabled for this instance"


def monque_lifespan(
    settings: MonqueSettings,
    *routers: JobRouter,
    db: DatabaseSource | None = None,
    lifespan: AppLifespan | None = None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[dict[str, Any]]]:
    """Build a lifespan that runs a `Monque` instance alongside the app.

    On start-up it connects, pings the database and initializes the scheduler,
    so routes can enqueue through `MonqueDep`. Then it enters the app's own
    `lifespan`, if given. Only when job processing is enabled does it then
    register the routers' handlers, schedule their cron jobs and start
    processing; with `disable_job_processing` it logs
    `Monque: Job processing is disabled for this instance` instead.

    On shutdown the steps run backwards: processing stops gracefully (running
    jobs get `shutdown_timeout` seconds to finish), the app's own lifespan
    exits, and a client this lifespan created is closed. Jobs therefore run
    only while what the app's lifespan set up is available.

    ```python
    app = FastAPI(lifespan=monque_lifespan(MonqueSettings(), email, reports))
    ```

    Args:
        settings: The connection and scheduler options.
        *routers: The job routers whose handlers this app runs.
        db: The database to use instead of `settings.mongodb_uri` and
            `settings.database`; its client stays open. A function, sync or
            async, is called at start-up for it.
        lifespan: The app's own lifespan, entered after the scheduler is
            initialized and before processing starts. The state it yields is
            merged into the lifespan state.

    Returns:
        A function of the app for `FastAPI(lifespan=...)`. Its lifespan state
        holds the instance under `monque` and the settings under
        `monque_settings`, which are also on `app.state` while the app runs.

    Raises:
        TypeError: An argument has the wrong type.
    """
    if not isinstance(settings, MonqueSettings):
        raise TypeError(f"settings must be a MonqueSettings, not {settings!r}")

    for router in routers:
        if not isinstance(router, JobRouter):
            raise TypeError(f"routers must be JobRouter instances, not {router!r}")

    def app_lifespan(app: FastAPI) -> AbstractAsyncContextManager[dict[str, Any]]:
        return _run(app, settings, routers, db, lifespan)

    return app_lifespan


@asynccontextmanager
async def _run(
    app: FastAPI,
    settings: MonqueSettings,
    routers: Sequence[JobRouter],
    db_source: DatabaseSource | None,
    lifespan: AppLifespan | None,
) -> AsyncIterator[dict[str, Any]]:
    definitions = collect_jobs(routers)
    processing = not settings.disable_job_processing
    if processing:
        _require_cron_support(definitions)

    async with AsyncExitStack() as stack:
        db = await _open_database(settings, db_source, stack)
        monque = Monque(db, **settings.monque_options())
        await _ping(db)
        await monque.initialize()
        state: dict[str, Any] = {"monque": monque, "monque_settings": settings}
        app.state.monque = monque
        app.state.monque_settings = settings
        stack.callback(_forget, app, monque)
        if lifespan is not None:
            own_state = await stack.enter_async_context(lifespan(app))
            state.update(own_state or {})

        if processing:
            await _start_processing(monque, definitions, app, state)
            stack.push_async_callback(monque.stop)
        else:
            logger.info(DISABLED_MESSAGE, extra={"action": "disable_processing"})

        yield state


def collect_jobs(routers: Sequence[JobRouter]) -> list[JobDefinition]:
    """Return the jobs of every router, checking that no name is declared twice.

    Raises:
        DuplicateHandlerError: Two routers declare the same full job name.
    """
    owners: dict[str, JobRouter] = {}
    definitions: list[JobDefinition] = []
    for router in routers:
        for definition in router.jobs:
            owner = owners.get(definition.name)
            if owner is not None:
                raise DuplicateHandlerError(
                    f"job {definition.name!r} is declared by two job routers "
                    f"({owner!r} and {router!r}); job names must be unique"
                )

            owners[definition.name] = router
            definitions.append(definition)

    return definitions


def _require_cron_support(definitions: Sequence[JobDefinition]) -> None:
    crons = [d.name for d in definitions if d.cron is not None]
    if crons and not callable(getattr(Monque, "schedule", None)):
        raise MonqueError(
            f"cron jobs {crons} need Monque.schedule(), which the installed "
            "monque-core does not have; upgrade monque-core"
        )


async def _open_database(
    settings: MonqueSettings, source: DatabaseSource | None, stack: AsyncExitStack
) -> Database:
    if source is None:
        try:
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
                settings.mongodb_uri, tz_aware=True, appname="monque"
            )
        except PyMongoError as exc:
            raise ValueError(
                f"settings.mongodb_uri (MONQUE_MONGODB_URI) is not usable: {exc}"
            ) from exc

        stack.push_async_callback(client.close)
        return client[settings.database]

    if isinstance(source, AsyncDatabase):
        return source

    made = source()
    if inspect.isawaitable(made):
        made = await made

    if not isinstance(made, AsyncDatabase):
        raise TypeError(f"the db factory must return an AsyncDatabase, not {made!r}")

    return made


async def _ping(db: Database) -> None:
    try:
        await db.command("ping")
    except PyMongoError as exc:
        raise DatabaseError(
            f"could not reach MongoDB for database {db.name!r}: {exc}"
        ) from exc


async def _start_processing(
    monque: Monque,
    definitions: Sequence[JobDefinition],
    app: FastAPI,
    state: Mapping[str, Any],
) -> None:
    for definition in definitions:
        concurrency = definition.concurrency or monque.options.worker_concurrency
        monque.register(
            definition.name,
            definition.handler.bind(app, state, threads=concurrency),
            concurrency=definition.concurrency,
            max_retries=definition.max_retries,
            timeout=definition.timeout,
        )

    for definition in definitions:
        cron = definition.cron
        if cron is not None:
            await monque.schedule(
                cron.expression,
                definition.name,
                cron.data,
                unique_key=cron.unique_key,
                timezone=cron.timezone,
            )

    await monque.start()
    logger.info(
        "Monque: processing %d job name(s) on instance %s",
        len(definitions),
        monque.instance_id,
        extra={"action": "start_processing"},
    )


def _forget(app: FastAPI, monque: Monque) -> None:
    if getattr(app.state, "monque", None) is monque:
        del app.state.monque
        del app.state.monque_settings
