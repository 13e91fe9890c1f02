"""`Monque`: the scheduler that enqueues jobs and runs their handlers."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

import anyio
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from ._acks import AckBatcher
from ._change_stream import ChangeStreamWatcher
from ._cron import next_cron_run
from ._enqueue import EnqueueMixin
from ._errors import DatabaseError, DuplicateHandlerError, NotInitializedError
from ._events import (
    E,
    EventBus,
    LoopFailed,
    SchedulerStarted,
    SchedulerStopped,
    StaleJobsRecovered,
)
from ._handler import Handler, HandlerSpec
from ._job import Job, JobStatus
from ._management import ManagementMixin
from ._options import MonqueOptions
from ._retention import RetentionMixin
from ._slots import InstanceSlots
from ._store import Document, JobStore, utcnow
from ._validation import parse_job_id
from ._worker import Worker

__all__ = ["Monque"]

logger = logging.getLogger("monque.scheduler")

H = TypeVar("H", bound=Handler)

CANCELLED = JobStatus.CANCELLED.value


class Monque(EnqueueMixin, ManagementMixin, RetentionMixin):
    """A job scheduler backed by one MongoDB collection.

    Any number of `Monque` instances, in any number of processes, may share the
    collection: each job is claimed by exactly one of them at a time.

    Args:
        db: The database that holds the jobs collection.
        collection_name: The jobs collection.
        max_concurrency: The most jobs this instance runs at once, summed over
            all its workers; `None` (the default) sets no instance-wide limit.
            Each worker still keeps to its own `concurrency`. At the limit a
            worker claims nothing until one of the instance's jobs finishes;
            below it a poll claims at most the free slots, so the instance never
            overshoots. Use it to keep one process within the CPU, memory or
            connection budget of its container, or to protect a downstream
            service, however many job names it handles.
        worker_concurrency: The default number of jobs one worker (one job
            name) runs at once, when `register` is given no `concurrency`.
        poll_interval: Seconds between two polls of an idle worker.
        max_retries: Failed attempts a job may have before it fails for good;
            a handler or a job may set its own.
        base_retry_interval: Seconds before the first retry; each further
            retry doubles it, with jitter.
        max_backoff: The longest delay between two attempts, in seconds.
        shutdown_timeout: Seconds `stop()` waits for running handlers before
            it cancels them and hands their jobs back to `pending`.
        heartbeat_interval: Seconds between two renewals of the leases of the
            jobs this instance holds.
        lock_timeout: Seconds without a heartbeat after which a `processing`
            job counts as abandoned and is recovered by any running instance.
        stale_check_interval: Seconds between two sweeps for abandoned jobs;
            half of `lock_timeout` by default.
        max_recoveries: How often a job may be recovered from a dead worker
            before it fails instead.
        max_payload_size: The largest encoded job data in bytes; `None` leaves
            only MongoDB's own 16 MiB document limit.
        instance_id: The name this instance claims jobs under; unique by
            default (host, process id and a random suffix).
        create_indexes: Whether `initialize()` creates the collection's
            indexes.
        completed_retention: Seconds a completed job is kept; `None` (the
            default) keeps completed jobs until they are deleted.
        failed_retention: Seconds a failed job is kept; `None` (the default)
            keeps failed jobs until they are retried or deleted.
        cleanup_interval: Seconds between two purges of a running instance
            that has a retention set.
        change_streams: Whether workers are woken by a change stream as jobs
            become due; on a server without change streams monque falls back
            to polling by itself.
        batch_claims: Whether a poll claims all the jobs it has room for in a
            fixed number of round trips, rather than one round trip per job.
        ack_window: Seconds the outcomes of finished jobs are gathered before
            they are written in one bulk write; `None` writes each outcome on
            its own at once. Each write still checks that this instance owns
            the job.

    Raises:
        TypeError: An option has the wrong type.
        ValueError: An option is out of range.
    """

    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        collection_name: str = "monque_jobs",
        max_concurrency: int | None = None,
        worker_concurrency: int = 5,
        poll_interval: float = 1.0,
        max_retries: int = 10,
        base_retry_interval: float = 1.0,
        max_backoff: float = 86400.0,
        shutdown_timeout: float = 30.0,
        heartbeat_interval: float = 5.0,
        lock_timeout: float = 30.0,
        stale_check_interval: float | None = None,
        max_recoveries: int = 5,
        max_payload_size: int | None = 1024 * 1024,
        instance_id: str | None = None,
        create_indexes: bool = True,
        completed_retention: float | None = None,
        failed_retention: float | None = None,
        cleanup_interval: float = 60.0,
        change_streams: bool = True,
        batch_claims: bool = True,
        ack_window: float | None = 0.005,
    ) -> None:
        if not isinstance(db, AsyncDatabase):
            raise TypeError(_not_an_async_database(db))

        self.options = MonqueOptions(
            collection_name=collection_name,
            max_concurrency=max_concurrency,
            worker_concurrency=worker_concurrency,
            poll_interval=poll_interval,
            max_retries=max_retries,
            base_retry_interval=base_retry_interval,
            max_backoff=max_backoff,
            shutdown_timeout=shutdown_timeout,
            heartbeat_interval=heartbeat_interval,
            lock_timeout=lock_timeout,
            stale_check_interval=stale_check_interval,
            max_recoveries=max_recoveries,
            max_payload_size=max_payload_size,
            instance_id=instance_id or "",
            create_indexes=create_indexes,
            completed_retention=completed_retention,
            failed_retention=failed_retention,
            cleanup_interval=cleanup_interval,
            change_streams=change_streams,
            batch_claims=batch_claims,
            ack_window=ack_window,
        )
        self.db = db
        collection = db.get_collection(
            collection_name,
            codec_options=db.codec_options.with_options(
                tz_aware=True, tzinfo=dt.timezone.utc
            ),
        )
        self.store = JobStore(
            collection,
            instance_id=self.options.instance_id,
            heartbeat_interval=self.options.heartbeat_interval,
        )
        self.events = EventBus()
        self._acks = AckBatcher(collection, window=self.options.ack_window)
        self._watcher = ChangeStreamWatcher(
            collection, notify=self._job_due, events=self.events
        )
        self._slots = InstanceSlots(max_concurrency)
        self._handlers: dict[str, HandlerSpec] = {}
        self._workers: dict[str, Worker] = {}
        self._initialized = False
        self._host: asyncio.Task[None] | None = None
        self._stopping = anyio.Event()
        self._started = anyio.Event()

    @property
    def instance_id(self) -> str:
        """The name this instance claims jobs under."""
        return self.options.instance_id

    @property
    def running_jobs(self) -> int:
        """How many jobs this instance is running now."""
        return self._slots.in_use

    @property
    def handlers(self) -> dict[str, HandlerSpec]:
        """The registered handlers by job name (a copy)."""
        return dict(self._handlers)

    # Life cycle

    async def initialize(self) -> None:
        """Create the collection's indexes and make the instance ready.

        Safe to call more than once and from several instances at a time.

        Raises:
            DatabaseError: The database could not be reached.
        """
        if self._initialized:
            return

        if self.options.create_indexes:
            try:
                await self.store.ensure_indexes()
            except PyMongoError as exc:
                raise DatabaseError(f"could not create the indexes: {exc}") from exc

        self._initialized = True
        logger.debug(
            "Initialized on collection %s",
            self.options.collection_name,
            extra={"action": "initialize"},
        )

    async def start(self) -> None:
        """Start claiming and running jobs in the background.

        Returns once every registered worker is polling. Does nothing if the
        instance is already running.

        Raises:
            NotInitializedError: `initialize()` was not called.
        """
        self._require_initialized()
        if self._host is not None and not self._host.done():
            return

        self._stopping = anyio.Event()
        self._started = anyio.Event()
        # pymongo's async client runs on asyncio only. The processing tasks must
        # outlive this call, so they run in one task of their own, structured
        # inside by anyio task groups.
        self._host = asyncio.get_running_loop().create_task(
            self._run(), name=f"monque {self.instance_id}"
        )
        await self._started.wait()
        if self._host.done():
            host, self._host = self._host, None
            host.result()

        logger.info(
            "Started instance %s with %d worker(s), max_concurrency=%s",
            self.instance_id,
            len(self._workers),
            self.options.max_concurrency,
            extra={"action": "start"},
        )
        self.events.emit(SchedulerStarted(self.instance_id))

    async def stop(self) -> None:
        """Stop claiming, let running handlers finish, and return.

        Handlers still running after `shutdown_timeout` are cancelled and their
        jobs handed back to `pending`, so a clean stop leaves no job
        `processing`. Does nothing if the instance is not running.
        """
        host = self._host
        if host is None:
            return

        self._stopping.set()
        # Queued outcomes are written now, and those of the handlers still
        # finishing are written one by one, so no job waits out a window.
        self._acks.close()
        for worker in self._workers.values():
            worker.wake()

        try:
            await host
        finally:
            self._host = None

        logger.info("Stopped instance %s", self.instance_id, extra={"action": "stop"})
        self.events.emit(SchedulerStopped(self.instance_id))

    def is_healthy(self) -> bool:
        """Whether the instance is initialized, started and not stopping."""
        return (
            self._initialized
            and self._host is not None
            and not self._host.done()
            and self._started.is_set()
            and not self._stopping.is_set()
        )

    async def __aenter__(self) -> Monque:
        await self.initialize()
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _run(self) -> None:
        try:
            async with anyio.create_task_group() as housekeeping:
                housekeeping.start_soon(self._retention_loop, name="monque retention")
                await self._process()
                housekeeping.cancel_scope.cancel()
        finally:
            # Unblocks start() should processing end before it began.
            self._started.set()

    async def _process(self) -> None:
        async with anyio.create_task_group() as services:
            services.start_soon(self._heartbeat_loop, name="monque heartbeat")
            services.start_soon(self._sweep_loop, name="monque stale sweep")
            if self.options.change_streams and self._workers:
                services.start_soon(self._watcher.run, name="monque change stream")
            async with anyio.create_task_group() as outcomes:
                self._acks.open()
                outcomes.start_soon(self._acks.run, name="monque acknowledgements")
                await self._run_jobs()
                # Whatever is still queued is written before stop() returns.
                self._acks.close()

            services.cancel_scope.cancel()

    async def _run_jobs(self) -> None:
        async with anyio.create_task_group() as jobs:
            self._jobs_group = jobs
            async with anyio.create_task_group() as claims:
                self._claims_group = claims
                for worker in self._workers.values():
                    claims.start_soon(worker.run, jobs, self._stopping)

                self._started.set()
                await self._stopping.wait()

            with anyio.move_on_after(self.options.shutdown_timeout):
                await self._slots.wait_idle()

            if self._slots.in_use:
                logger.warning(
                    "Cancelling %d job(s) still running after %.0f s",
                    self._slots.in_use,
                    self.options.shutdown_timeout,
                    extra={"action": "stop"},
                )

            jobs.cancel_scope.cancel()

    async def _heartbeat_loop(self) -> None:
        while True:
            await anyio.sleep(self.options.heartbeat_interval)
            held = [job for w in self._workers.values() for job in w.running.values()]
            try:
                lost = await self.store.heartbeat(held)
            except Exception as exc:
                self._loop_error("heartbeat", exc)
                continue

            for job, status in lost:
                reason = "cancelled" if status == CANCELLED else "lease_lost"
                worker = self._workers.get(job.name)
                if worker is not None:
                    worker.interrupt(job.id, reason, token=job.claim_token)

    def _job_cancelled(self, job_id: str) -> None:
        for worker in self._workers.values():
            if worker.interrupt(job_id, "cancelled"):
                return

    async def _sweep_loop(self) -> None:
        while True:
            try:
                recovered, failed = await self.store.recover_stale(
                    lock_timeout=self.options.lock_timeout,
                    max_recoveries=self.options.max_recoveries,
                )
            except Exception as exc:
                self._loop_error("stale_sweep", exc)
            else:
                if recovered or failed:
                    logger.warning(
                        "Recovered %d stale job(s); failed %d recovered too often",
                        recovered,
                        failed,
                        extra={"action": "recover_stale"},
                    )
                    self.events.emit(StaleJobsRecovered(recovered, failed))
                    for worker in self._workers.values():
                        worker.notify_due(utcnow())

            await anyio.sleep(self.options.sweep_interval)

    def _job_due(self, name: str, when: dt.datetime | None) -> None:
        worker = self._workers.get(name)
        if worker is not None:
            worker.notify_due(when or utcnow())

    def _loop_error(self, action: str, exc: Exception) -> None:
        # A loop outlives any error: a driver error is an outage to wait out, and
        # anything else is a bug to report in full, not a reason to stop working.
        if isinstance(exc, PyMongoError):
            logger.warning(
                "The %s step failed: %s", action, exc, extra={"action": action}
            )
        else:
            logger.exception(
                "The %s step failed unexpectedly", action, extra={"action": action}
            )

        self.events.emit(LoopFailed(action, exc))

    # Handlers

    def register(
        self,
        name: str,
        handler: Handler,
        *,
        concurrency: int | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        model: type | None = None,
        replace: bool = False,
    ) -> None:
        """Register the handler that runs jobs named `name`.

        Args:
            name: The job name.
            handler: `async def handler(job)` or a plain `def handler(job)`,
                which runs in a worker thread.
            concurrency: Jobs of this name run at once by this instance;
                `worker_concurrency` by default.
            max_retries: Failed attempts before a job fails for good; the
                instance's `max_retries` by default.
            timeout: Seconds an attempt may run before it is cancelled and
                counted as failed; no limit by default.
            model: A pydantic model for the job data. `enqueue` on this
                instance validates data with it and stores its JSON dump; the
                handler gets `job.data` as an instance of the model. A job
                whose stored data does not fit fails at once, without retries.
            replace: Replace an existing handler instead of raising.

        Raises:
            DuplicateHandlerError: `name` has a handler and `replace` is false.
        """
        spec = HandlerSpec.build(
            name,
            handler,
            concurrency=concurrency,
            default_concurrency=self.options.worker_concurrency,
            max_retries=max_retries,
            timeout=timeout,
            model=model,
        )
        if name in self._handlers and not replace:
            raise DuplicateHandlerError(
                f"a handler for job {name!r} is already registered; "
                "pass replace=True to replace it"
            )

        self._handlers[name] = spec
        previous = self._workers.get(name)
        worker = Worker(
            spec,
            store=self.store,
            slots=self._slots,
            options=self.options,
            events=self.events,
            acks=self._acks,
            next_run=next_cron_run,
        )
        if previous is not None:
            worker.running = previous.running
            worker.scopes = previous.scopes
            worker.interruptions = previous.interruptions

        self._workers[name] = worker
        if self.is_healthy() and previous is None:
            self._claims_group.start_soon(worker.run, self._jobs_group, self._stopping)

    def job(
        self,
        name: str,
        *,
        concurrency: int | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        model: type | None = None,
        replace: bool = False,
    ) -> Callable[[H], H]:
        """Register the decorated function as the handler of `name`.

        Takes the keyword arguments of `register` and returns the function
        unchanged.
        """

        def decorate(handler: H) -> H:
            self.register(
                name,
                handler,
                concurrency=concurrency,
                max_retries=max_retries,
                timeout=timeout,
                model=model,
                replace=replace,
            )
            return handler

        return decorate

    # Events

    def on(
        self, event_type: type[E], callback: Callable[[E], object]
    ) -> Callable[[], None]:
        """Call `callback` with every event of `event_type`; return an unsubscriber.

        Subscribe to `Event` to receive every event. Callbacks run inline and
        must not block; an exception in one is logged and does not affect
        processing.
        """
        return self.events.subscribe(event_type, callback)

    # Reading jobs

    async def get_job(self, job_id: str | ObjectId) -> Job | None:
        """Return the job with this id, or `None` if there is none.

        Raises:
            ValueError: `job_id` is not a valid job id.
            DatabaseError: The read failed.
        """
        self._require_initialized()
        oid = parse_job_id(job_id)
        try:
            doc = await self.store.find(oid)
        except PyMongoError as exc:
            raise DatabaseError(f"could not read job {job_id}: {exc}") from exc

        return None if doc is None else Job.from_document(doc)

    def _require_initialized(self) -> None:
        if not self._initialized:
            raise NotInitializedError(
                "call 'await monque.initialize()' (or use 'async with monque') first"
            )


def _not_an_async_database(db: object) -> str:
    kind = f"{type(db).__module__}.{type(db).__qualname__}"
    message = (
        "db must be a pymongo AsyncDatabase, such as "
        f"AsyncMongoClient(...)['app'], not {kind}"
    )
    if kind.startswith("motor."):
        return (
            f"{message}: Motor is deprecated by its maintainers in favour of "
            "pymongo's async API, which monque uses; open the database with "
            "pymongo.AsyncMongoClient and the same URI"
        )

    if kind == "pymongo.synchronous.database.Database":
        return f"{message}: use pymongo.AsyncMongoClient instead of MongoClient"

    return message
