"""The parts of `Monque` that its enqueueing and management mixins build on."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._events import EventBus
    from ._handler import HandlerSpec
    from ._job import Job
    from ._options import MonqueOptions
    from ._store import JobStore
    from ._worker import Worker

__all__ = ["SchedulerState"]


class SchedulerState:
    """What a `Monque` instance holds; declared here so that mixins type-check."""

    options: MonqueOptions
    store: JobStore
    events: EventBus
    _handlers: dict[str, HandlerSpec]
    _workers: dict[str, Worker]

    if TYPE_CHECKING:

        def is_healthy(self) -> bool:
            """Whether the instance is initialized, started and not stopping."""

        def _require_initialized(self) -> None: ...

    def _wake(self, job: Job) -> None:
        """Tell this instance's worker for the job's name when the job is due."""
        worker = self._workers.get(job.name)
        if worker is not None and self.is_healthy():
            worker.notify_due(job.next_run_at)
