"""The worker of one job name: its claim loop and the run of each claimed job."""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from ._backoff import retry_delay
from ._errors import JobTimeoutError, NonRetryableError, RetryAfter
from ._events import (
    EventBus,
    JobCompleted,
    JobFailed,
    JobInterrupted,
    JobReleased,
    JobStarted,
)
from ._handler import HandlerSpec
from ._job import Job
from ._options import MonqueOptions
from ._slots import InstanceSlots
from ._store import Document, utcnow
from ._write import retry_write

if TYPE_CHECKING:
    from ._acks import AckBatcher
    from ._store import JobStore

__all__ = ["Worker"]

logger = logging.getLogger("monque.worker")

# Polls in a row that lose every due job to competitors before a worker stops
# polling again at once and waits for its next wakeup or poll.
_OUTRACED_POLLS = 5

NextRun = Callable[[Job], "dt.datetime | None"]


def _no_next_run(job: Job) -> dt.datetime | None:
    return None


class Worker:
    """Claims and runs the jobs of one name within its own and the instance's limits.

    Args:
        spec: The handler and its options.
        store: The jobs collection.
        slots: The instance's running-job count behind `max_concurrency`.
        options: The instance's options.
        events: Where lifecycle events go.
        acks: Where the outcome of each attempt is written.
        next_run: For a recurring job, when it runs next after this attempt.
    """

    def __init__(
        self,
        spec: HandlerSpec,
        *,
        store: JobStore,
        slots: InstanceSlots,
        options: MonqueOptions,
        events: EventBus,
        acks: AckBatcher,
        next_run: NextRun = _no_next_run,
    ) -> None:
        self.spec = spec
        self.store = store
        self.slots = slots
        self.options = options
        self.events = events
        self.acks = acks
        self.next_run = next_run
        # The running attempts, the scope that can stop each, and why one was
        # stopped, all keyed by job id and claim token.
        self.running: dict[str, Job] = {}
        self.scopes: dict[str, anyio.CancelScope] = {}
        self.interruptions: dict[str, str] = {}
        self._limiter = anyio.CapacityLimiter(spec.concurrency)
        self._wakeup = anyio.Event()
        self._queue_drained = False
        self._outraced = False
        self._outraced_polls = 0
        self._sleep_until: dt.datetime | None = None

    @property
    def name(self) -> str:
        """The job name this worker processes."""
        return self.spec.name

    @property
    def free(self) -> int:
        """Slots of this worker not taken by a running job."""
        return max(self.spec.concurrency - len(self.running), 0)

    def wake(self) -> None:
        """Make the claim loop poll now instead of at its next interval."""
        self._wakeup.set()

    def interrupt(self, job_id: str, reason: str, *, token: str | None = None) -> bool:
        """Stop the handler of a running job that this instance no longer owns.

        The job was cancelled, or its lease went to another attempt. The handler
        is cancelled at its next checkpoint; nothing is written for the job and
        no completion or failure event fires.

        Args:
            job_id: The job.
            reason: ``"cancelled"`` or ``"lease_lost"``.
            token: Only the attempt under this claim token; every attempt of
                the job that this worker runs by default.

        Returns:
            Whether this worker was running the job.
        """
        found = False
        for key, job in list(self.running.items()):
            if job.id != job_id or (token is not None and job.claim_token != token):
                continue

            self.interruptions.setdefault(key, reason)
            self.scopes[key].cancel()
            found = True

        return found

    def notify_due(self, when: dt.datetime) -> None:
        """Tell the worker a job of its name is due at `when`."""
        self._queue_drained = False
        if when <= utcnow() or self._sleep_until is None or when < self._sleep_until:
            self.wake()

    async def poll(self, start: Callable[[Job], object]) -> int:
        """Claim as many due jobs as free slots allow and start each one.

        The number claimed is at most ``min(worker free slots, instance free
        slots)``. At the instance limit the poll returns at once without a
        database round trip, and the worker is woken when a slot frees.

        Args:
            start: Called with each claimed job to run it.

        Returns:
            How many jobs were claimed.
        """
        self._outraced = False
        wanted = self.free
        if wanted == 0:
            return 0

        granted = self.slots.reserve(wanted, on_free=self.wake)
        if granted == 0:
            logger.debug(
                "Worker %s waits: instance at max_concurrency=%s",
                self.name,
                self.slots.capacity,
                extra={"action": "throttle", "job_name": self.name},
            )
            return 0

        jobs: list[Job] = []
        try:
            claim = await self.store.claim(
                self.name, granted, batch=self.options.batch_claims
            )
            jobs = claim.jobs
        finally:
            self.slots.release(granted - len(jobs))

        # Jobs lost to competitors are not a drained queue: due jobs remain,
        # and the next poll follows at once.
        self._queue_drained = claim.drained
        self._outraced = len(jobs) < granted and not claim.drained
        self._outraced_polls = self._outraced_polls + 1 if self._outraced else 0
        for job in jobs:
            key = _lease_key(job)
            self.running[key] = job
            self.scopes[key] = anyio.CancelScope()
            start(job)

        return len(jobs)

    async def run(self, jobs: TaskGroup, stopping: anyio.Event) -> None:
        """Poll until `stopping` is set, starting claimed jobs in `jobs`."""
        errors = 0

        def start(job: Job) -> None:
            jobs.start_soon(self.run_job, job, name=f"monque job {job.id}")

        while not stopping.is_set():
            self._wakeup = anyio.Event()
            try:
                claimed = await self.poll(start)
                wait = await self._idle_time(claimed)
                errors = 0
            except Exception as exc:
                errors += 1
                wait = min(self.options.poll_interval * 2**errors, 30.0)
                logger.warning(
                    "Claiming %s jobs failed (%s); retrying in %.1f s",
                    self.name,
                    exc,
                    wait,
                    extra={"action": "claim", "job_name": self.name},
                )

            if wait > 0 and not stopping.is_set():
                with anyio.move_on_after(wait):
                    await self._wakeup.wait()

            self._sleep_until = None

    async def _idle_time(self, claimed: int) -> float:
        """Seconds to wait before the next poll."""
        # Polls outraced again and again wait as usual, so that a claim that
        # can never win (a job changed under every read) does not spin.
        outraced = self._outraced and self._outraced_polls <= _OUTRACED_POLLS
        if (claimed or outraced) and not self._queue_drained and self.free:
            return 0.0

        wait = self.options.poll_interval
        if self._queue_drained and self.free:
            due = await self.store.next_due(self.name)
            if due is not None:
                ahead = (due - utcnow()).total_seconds()
                wait = min(wait, max(ahead, 0.0))

        self._sleep_until = utcnow() + dt.timedelta(seconds=wait)
        return wait

    async def run_job(self, job: Job) -> None:
        """Run the handler for a claimed job and record the outcome."""
        try:
            await self._attempt(job)
        finally:
            key = _lease_key(job)
            self.running.pop(key, None)
            self.scopes.pop(key, None)
            self.interruptions.pop(key, None)
            self.slots.release(1)
            if not self._queue_drained:
                self.wake()

    async def _attempt(self, job: Job) -> None:
        log_extra = {"action": "start_job", "job_id": job.id, "job_name": job.name}
        logger.info("Processing job %s (%s)", job.id, job.name, extra=log_extra)
        self.events.emit(JobStarted(job))
        # Created at claim time, so that an interruption that comes before the
        # task starts still stops the handler.
        key = _lease_key(job)
        scope = self.scopes.setdefault(key, anyio.CancelScope())
        started = anyio.current_time()
        error: Exception | None = None
        try:
            with scope:
                await self._call(job)
        except anyio.get_cancelled_exc_class():
            if not scope.cancel_called:
                with anyio.CancelScope(shield=True):
                    await self._release(job)

            raise
        except TimeoutError:
            error = JobTimeoutError(
                f"handler for {job.name!r} ran longer than its timeout of "
                f"{self.spec.timeout:g} s"
            )
        except Exception as exc:
            error = exc

        duration = anyio.current_time() - started
        if scope.cancel_called:
            self._interrupted(job, self.interruptions.get(key, "cancelled"))
            return

        if error is None:
            await self._complete(job, duration)
        else:
            await self._fail(job, error)

    async def _call(self, job: Job) -> None:
        if self.spec.timeout is None:
            await self.spec.call(job, limiter=self._limiter)
            return

        with anyio.fail_after(self.spec.timeout):
            await self.spec.call(job, limiter=self._limiter)

    def _interrupted(self, job: Job, reason: str) -> None:
        extra = {
            "action": "interrupt_job",
            "job_id": job.id,
            "job_name": job.name,
            "reason": reason,
        }
        if reason == "cancelled":
            logger.info(
                "Stopped job %s (%s): it was cancelled", job.id, job.name, extra=extra
            )
        else:
            logger.warning(
                "Stopped job %s (%s): this instance lost its lease",
                job.id,
                job.name,
                extra=extra,
            )

        self.events.emit(JobInterrupted(job, reason))

    async def _complete(self, job: Job, duration: float) -> None:
        update = self.store.completion(job, next_run_at=self.next_run(job))
        done = await self._record("complete", job, update)
        extra = {"action": "complete_job", "job_id": job.id, "job_name": job.name}
        if not done:
            self._log_lost(job, "completion")
            return

        logger.info(
            "Completed job %s (%s) in %.3f s", job.id, job.name, duration, extra=extra
        )
        self.events.emit(JobCompleted(job, duration))

    def retry_at(self, job: Job, error: BaseException) -> dt.datetime | None:
        """When to retry `job` after `error`, or `None` to fail it for good."""
        if isinstance(error, NonRetryableError):
            return None

        limit = job.max_retries
        if limit is None:
            limit = self.spec.max_retries

        if limit is None:
            limit = self.options.max_retries

        fail_count = job.fail_count + 1
        if fail_count > limit:
            return None

        if isinstance(error, RetryAfter):
            delay = error.delay
        else:
            delay = retry_delay(
                fail_count,
                base=self.options.base_retry_interval,
                cap=self.options.max_backoff,
            )

        return utcnow() + dt.timedelta(seconds=delay)

    async def _fail(self, job: Job, error: Exception) -> None:
        retry_at = self.retry_at(job, error)
        reason = _describe(error)
        update = self.store.failure(job, reason=reason, retry_at=retry_at)
        done = await self._record("fail", job, update)
        extra: dict[str, Any] = {
            "action": "fail_job",
            "job_id": job.id,
            "job_name": job.name,
        }
        if not done:
            self._log_lost(job, "failure")
            return

        if retry_at is None:
            logger.error(
                "Job %s (%s) failed for good: %s",
                job.id,
                job.name,
                reason,
                exc_info=error,
                extra=extra,
            )
        else:
            logger.warning(
                "Job %s (%s) failed; retrying at %s: %s",
                job.id,
                job.name,
                retry_at.isoformat(),
                reason,
                exc_info=error,
                extra=extra,
            )

        self.events.emit(JobFailed(job, error, retry_at is not None, retry_at))

    async def _record(self, action: str, job: Job, update: Document) -> bool:
        """Write an attempt's outcome through the batcher, retrying outages."""
        fence = self.store.fence(job)
        return await retry_write(
            action,
            lambda: self.acks.write(fence["_id"], fence, update, job.claim_token),
            deadline=self.options.lock_timeout,
        )

    async def _release(self, job: Job) -> None:
        done = await retry_write(
            "release", lambda: self.store.release(job), deadline=5.0
        )
        if done:
            logger.info(
                "Released job %s (%s) back to pending",
                job.id,
                job.name,
                extra={"action": "release_job", "job_id": job.id, "job_name": job.name},
            )
            self.events.emit(JobReleased(job))

    def _log_lost(self, job: Job, what: str) -> None:
        logger.warning(
            "Dropped the %s of job %s (%s): this instance no longer owns it",
            what,
            job.id,
            job.name,
            extra={"action": "lost_lease", "job_id": job.id, "job_name": job.name},
        )


def _lease_key(job: Job) -> str:
    # A batch claim gives its jobs one token, and one instance may hold two
    # attempts of a job at once (its own lease expired, its sweep recovered
    # the job and it claimed it again): only both together name an attempt.
    return f"{job.id}:{job.claim_token}"


def _describe(error: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    return text[:2000]
