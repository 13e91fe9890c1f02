"""The demo app: an API that enqueues jobs, and the job router that a worker runs.

The same module serves both kinds of node, configured by the environment:

    # API node, producer only: enqueues, never processes
    MONQUE_DISABLE_JOB_PROCESSING=true uvicorn demo_app:app

    # worker node: processes the jobs of the app's job routers, serves no HTTP
    monque worker demo_app:app
"""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field
from pymongo.asynchronous.collection import AsyncCollection

from monque import Job, JobStatus
from monque_fastapi import (
    JobRouter,
    MonqueDep,
    MonqueSettings,
    health_router,
    monque_lifespan,
)

Runs = AsyncCollection[dict[str, Any]]

RUNS_COLLECTION = "demo_runs"


class Gauge:
    """Counts the jobs this process is running at this moment."""

    def __init__(self) -> None:
        self.running = 0


gauge = Gauge()


def get_runs(monque: MonqueDep) -> Runs:
    """Where each run records when it started and how busy the worker was."""
    return monque.db[RUNS_COLLECTION]


demo = JobRouter(prefix="demo")


@demo.job("work")
async def work(
    job: Job, monque: MonqueDep, runs: Annotated[Runs, Depends(get_runs)]
) -> None:
    """Pretend to work for a moment, and record the run for the summary."""
    started = dt.datetime.now(dt.timezone.utc)
    gauge.running += 1
    running = gauge.running
    try:
        await anyio.sleep(job.data["seconds"])
    finally:
        gauge.running -= 1

    await runs.insert_one(
        {
            "job_id": job.id,
            "latency": (started - job.created_at).total_seconds(),
            "running": running,
            "instance": monque.instance_id,
        }
    )


app = FastAPI(
    title="monque demo",
    lifespan=monque_lifespan(MonqueSettings(), demo),
)
app.include_router(health_router())


class WorkRequest(BaseModel):
    """A job to enqueue."""

    seconds: float = Field(default=0.05, ge=0, le=10)


class Enqueued(BaseModel):
    """The enqueued job."""

    id: str


class Stats(BaseModel):
    """How far the demo's jobs are, and what the runs measured."""

    pending: int
    processing: int
    completed: int
    failed: int
    peak_running: int
    latency_min_ms: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_max_ms: float | None


@app.post("/jobs", status_code=202)
async def enqueue(request: WorkRequest, monque: MonqueDep) -> Enqueued:
    """Enqueue one job; a worker node runs it."""
    job = await monque.enqueue("demo.work", request.model_dump())
    return Enqueued(id=job.id)


@app.get("/stats")
async def stats(monque: MonqueDep, runs: Annotated[Runs, Depends(get_runs)]) -> Stats:
    """Count the jobs by status and summarize the recorded runs."""
    counts = (await monque.get_queue_stats(name="demo.work")).counts
    latencies: list[float] = sorted(
        [run["latency"] async for run in runs.find({}, {"latency": 1})]
    )
    peak = await runs.find_one({}, sort=[("running", -1)])

    def percentile(fraction: float) -> float | None:
        if not latencies:
            return None

        if len(latencies) == 1:
            return latencies[0] * 1000

        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        return cuts[round(fraction * 100) - 1] * 1000

    return Stats(
        pending=counts[JobStatus.PENDING],
        processing=counts[JobStatus.PROCESSING],
        completed=counts[JobStatus.COMPLETED],
        failed=counts[JobStatus.FAILED],
        peak_running=0 if peak is None else peak["running"],
        latency_min_ms=latencies[0] * 1000 if latencies else None,
        latency_p50_ms=percentile(0.50),
        latency_p95_ms=percentile(0.95),
        latency_max_ms=latencies[-1] * 1000 if latencies else None,
    )
