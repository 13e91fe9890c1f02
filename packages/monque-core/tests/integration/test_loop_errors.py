"""A background loop that hits an unexpected error reports it and carries on."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from monque import Job, JobCompleted, JobStatus, LoopFailed, Monque

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]


@pytest.mark.parametrize(
    ("action", "method"),
    [("heartbeat", "heartbeat"), ("stale_sweep", "recover_stale")],
)
async def test_a_bug_in_a_loop_is_logged_and_processing_goes_on(
    make_monque: MakeMonque,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    method: str,
) -> None:
    monque = make_monque(
        heartbeat_interval=0.05, lock_timeout=5.0, stale_check_interval=0.05
    )
    failures: list[LoopFailed] = []
    failed_twice = anyio.Event()
    release = anyio.Event()
    completed = anyio.Event()

    @monque.job("report.build")
    async def build(job: Job) -> None:
        # Holding a job gives the heartbeat something to renew.
        await release.wait()

    def on_failure(event: LoopFailed) -> None:
        failures.append(event)
        if len([f for f in failures if f.action == action]) >= 2:
            failed_twice.set()

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"bug in {method}")

    monkeypatch.setattr(monque.store, method, broken)
    monque.on(LoopFailed, on_failure)
    monque.on(JobCompleted, lambda event: completed.set())

    with caplog.at_level(logging.ERROR, logger="monque.scheduler"):
        async with monque:
            job = await monque.enqueue("report.build")
            with anyio.fail_after(10):
                # The loop failed, and then ran again: it did not die.
                await failed_twice.wait()
                assert monque.is_healthy()
                release.set()
                await completed.wait()

    stored = await monque.get_job(job.id)
    assert stored is not None
    assert stored.status is JobStatus.COMPLETED
    ours = [f for f in failures if f.action == action]
    assert all(isinstance(f.error, RuntimeError) for f in ours)
    records = [r for r in caplog.records if r.getMessage().startswith("The ")]
    assert any(
        getattr(r, "action", None) == action and r.exc_info is not None for r in records
    )
