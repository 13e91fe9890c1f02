"""Measure monque on a MongoDB server: ``nox -s bench``.

Starts the test server from ``tools/testserver.py`` unless ``MONGODB_URI`` is set,
then measures enqueue rates, processing rates, enqueue-to-start latency and the
database commands each processed job costs, counted with pymongo's command
monitoring. Prints a table and writes the numbers to a JSON file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from monque import ChangeStreamConnected, Job, JobCompleted, JobStarted, Monque

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from testserver import TestServer

Document = dict[str, Any]
Configuration = tuple[str, int, int]
"""A processing run: claim mode, worker concurrency, number of instances."""
CONFIGURATIONS: list[Configuration] = [
    (mode, concurrency, instances)
    for mode in ("single", "batch")
    for instances in (1, 3)
    for concurrency in (1, 10, 50)
]
# Commands a client sends for itself rather than for the application.
_HOUSEKEEPING = {"hello", "ismaster", "isMaster", "ping", "endSessions", "buildInfo"}


class CommandCounter(monitoring.CommandListener):
    """Counts the commands the application sends, by name.

    The change stream's own commands (its ``aggregate`` and the ``getMore`` calls
    that wait on it) are counted apart, as ``stream``: they are the wakeup path,
    sent whether or not jobs are processed.
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._streams: set[int] = set()
        self._opening: set[int] = set()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name in _HOUSEKEEPING:
            return

        command = event.command
        if name == "aggregate" and any(
            "$changeStream" in stage for stage in command.get("pipeline", [])
        ):
            self._opening.add(event.request_id)
            name = "stream"
        elif name == "getMore" and command.get("getMore") in self._streams:
            name = "stream"

        self.counts[name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.request_id in self._opening:
            self._opening.discard(event.request_id)
            cursor = event.reply.get("cursor", {})
            self._streams.add(cursor.get("id"))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._opening.discard(event.request_id)

    def total(self, *, without: tuple[str, ...] = ()) -> int:
        return sum(n for name, n in self.counts.items() if name not in without)


@dataclass
class Results:
    server: str
    python: str
    started_at: str
    enqueue: dict[str, float] = field(default_factory=dict)
    processing: list[dict[str, Any]] = field(default_factory=list)
    latency: list[dict[str, Any]] = field(default_factory=list)
    claim_plan: dict[str, Any] = field(default_factory=dict)


@contextmanager
def server_uri() -> Iterator[tuple[str, str]]:
    external = os.environ.get("MONGODB_URI")
    if external:
        yield external, "MONGODB_URI"
        return

    with TestServer() as server:
        yield server.uri, "SecantusDB test server (replica set, in memory)"


async def noop(job: Job) -> None:
    return None


async def measure_enqueue(db: AsyncDatabase[Document], count: int) -> dict[str, float]:
    monque = Monque(db, collection_name=f"bench_enqueue_{uuid.uuid4().hex[:6]}")
    await monque.initialize()

    began = time.perf_counter()
    for number in range(count):
        await monque.enqueue("bench.noop", {"n": number})

    single = count / (time.perf_counter() - began)

    began = time.perf_counter()
    for start in range(0, count, 100):
        await monque.enqueue_many(
            "bench.noop", [{"n": n} for n in range(start, start + 100)]
        )

    batch = count / (time.perf_counter() - began)
    await db.drop_collection(monque.options.collection_name)
    return {"single_per_s": round(single, 1), "batch_per_s": round(batch, 1)}


async def measure_processing(
    db: AsyncDatabase[Document],
    counter: CommandCounter,
    *,
    jobs: int,
    concurrency: int,
    instances: int,
    batch_claims: bool,
) -> dict[str, Any]:
    collection = f"bench_run_{uuid.uuid4().hex[:6]}"
    monques = [
        Monque(
            db,
            collection_name=collection,
            worker_concurrency=concurrency,
            batch_claims=batch_claims,
            poll_interval=0.5,
        )
        for _ in range(instances)
    ]
    finished = 0
    all_done = anyio.Event()

    def count(event: JobCompleted) -> None:
        nonlocal finished
        finished += 1
        if finished == jobs:
            all_done.set()

    for monque in monques:
        monque.register("bench.noop", noop)
        monque.on(JobCompleted, count)
        await monque.initialize()

    await monques[0].enqueue_many("bench.noop", [{"n": n} for n in range(jobs)])
    counter.counts.clear()
    began = time.perf_counter()
    for monque in monques:
        await monque.start()

    with anyio.fail_after(600):
        await all_done.wait()

    elapsed = time.perf_counter() - began
    commands = counter.total(without=("stream",))
    for monque in monques:
        await monque.stop()

    await db.drop_collection(collection)
    return {
        "mode": "batch" if batch_claims else "single",
        "concurrency": concurrency,
        "instances": instances,
        "jobs": jobs,
        "jobs_per_s": round(jobs / elapsed, 1),
        "commands_per_job": round(commands / jobs, 3),
        "stream_commands": counter.counts["stream"],
        "commands": dict(counter.counts),
    }


async def measure_latency(
    db: AsyncDatabase[Document], *, change_streams: bool, samples: int
) -> dict[str, Any]:
    collection = f"bench_latency_{uuid.uuid4().hex[:6]}"
    worker = Monque(db, collection_name=collection, change_streams=change_streams)
    producer = Monque(db, collection_name=collection)
    enqueued_at: dict[str, float] = {}
    delays: list[float] = []
    started = anyio.Event()

    def on_start(event: JobStarted) -> None:
        delays.append(time.perf_counter() - enqueued_at[event.job.id])
        started.set()

    worker.register("bench.noop", noop)
    worker.on(JobStarted, on_start)
    connected = anyio.Event()
    worker.on(ChangeStreamConnected, lambda event: connected.set())
    await producer.initialize()
    async with worker:
        if change_streams:
            with anyio.fail_after(30):
                await connected.wait()

        for _ in range(samples):
            # A gap of random length, so that enqueues fall anywhere within
            # the idle worker's poll interval.
            await anyio.sleep(random.uniform(0.0, worker.options.poll_interval))
            started = anyio.Event()
            job_id = uuid.uuid4()
            began = time.perf_counter()
            job = await producer.enqueue("bench.noop", {"sample": str(job_id)})
            enqueued_at[job.id] = began
            with anyio.fail_after(30):
                await started.wait()

    await db.drop_collection(collection)
    ordered = sorted(delays)
    return {
        "wakeup": "change stream" if change_streams else "polling (poll_interval=1.0)",
        "samples": samples,
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(
            ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1
        ),
    }


async def claim_plan(db: AsyncDatabase[Document]) -> dict[str, Any]:
    monque = Monque(db, collection_name=f"bench_plan_{uuid.uuid4().hex[:6]}")
    await monque.initialize()
    await monque.enqueue_many("bench.noop", [{"n": n} for n in range(200)])
    plan = await monque.store.explain_claim("bench.noop", 10)
    await db.drop_collection(monque.options.collection_name)
    stages = json.dumps(
        plan.get("queryPlanner", {}).get("winningPlan", {}), default=str
    )
    return {
        "uses_claim_index": '"monque_claim"' in stages,
        "blocking_sort": '"SORT"' in stages,
        "docs_examined": plan.get("executionStats", {}).get("totalDocsExamined"),
    }


def print_table(results: Results) -> None:
    print(f"\nmonque benchmark on {results.server}, Python {results.python}\n")
    enqueue = results.enqueue
    if enqueue:
        print(
            f"enqueue:   single {enqueue['single_per_s']:8.1f} jobs/s   "
            f"batch {enqueue['batch_per_s']:8.1f} jobs/s"
        )

    print("\nprocessing (no-op jobs):")
    header = ("mode", "conc", "inst", "jobs", "jobs/s", "cmds/job")
    print("  {:6} {:>5} {:>5} {:>6} {:>9} {:>9}".format(*header))
    for row in results.processing:
        print(
            f"  {row['mode']:6} {row['concurrency']:>5} {row['instances']:>5} "
            f"{row['jobs']:>6} {row['jobs_per_s']:>9.1f} "
            f"{row['commands_per_job']:>9.3f}"
        )

    if results.latency:
        print("\nenqueue-to-start latency:")

    for row in results.latency:
        print(
            f"  {row['wakeup']:30} p50 {row['p50_ms']:8.1f} ms   "
            f"p99 {row['p99_ms']:8.1f} ms"
        )

    if results.claim_plan:
        print(f"\nclaim query plan: {results.claim_plan}")


async def run(args: argparse.Namespace) -> Results:
    with server_uri() as (uri, label):
        counter = CommandCounter()
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            uri, event_listeners=[counter], tz_aware=True, socketTimeoutMS=120_000
        )
        db = client[f"monque_bench_{uuid.uuid4().hex[:6]}"]
        results = Results(
            server=label,
            python=platform.python_version(),
            started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        )
        try:
            if args.only is None:
                results.enqueue = await measure_enqueue(db, args.enqueue_jobs)

            for mode, concurrency, instances in args.only or CONFIGURATIONS:
                results.processing.append(
                    await measure_processing(
                        db,
                        counter,
                        jobs=args.jobs,
                        concurrency=concurrency,
                        instances=instances,
                        batch_claims=mode == "batch",
                    )
                )

            if args.only is None:
                for change_streams in (True, False):
                    results.latency.append(
                        await measure_latency(
                            db, change_streams=change_streams, samples=args.samples
                        )
                    )

                results.claim_plan = await claim_plan(db)
        finally:
            await client.drop_database(db.name)
            await client.close()

    return results


def configuration(text: str) -> Configuration:
    """Parse ``MODE:CONCURRENCYxINSTANCES``, as in ``batch:10x3``."""
    mode, _, sizes = text.partition(":")
    concurrency, _, instances = sizes.partition("x")
    if mode not in ("single", "batch") or not (
        concurrency.isdigit() and instances.isdigit()
    ):
        raise argparse.ArgumentTypeError(f"expected e.g. batch:10x3, not {text!r}")

    return mode, int(concurrency), int(instances)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300, help="jobs per processing run")
    parser.add_argument("--enqueue-jobs", type=int, default=500)
    parser.add_argument("--samples", type=int, default=40, help="latency samples")
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).with_name("results.json")
    )
    parser.add_argument(
        "--only",
        type=configuration,
        action="append",
        metavar="MODE:CxI",
        help=(
            "run only this processing configuration (e.g. batch:10x3; repeatable), "
            "and skip the enqueue, latency and plan measurements"
        ),
    )
    args = parser.parse_args(argv)

    results = anyio.run(run, args)
    print_table(results)
    single = {
        (r["concurrency"], r["instances"]): r
        for r in results.processing
        if r["mode"] == "single"
    }
    print("\nbatch / single (jobs/s, commands/job):")
    for row in results.processing:
        base = single.get((row["concurrency"], row["instances"]))
        if row["mode"] == "batch" and base is not None:
            print(
                f"  conc {row['concurrency']:>3} x {row['instances']}: "
                f"{row['jobs_per_s'] / base['jobs_per_s']:5.2f}x faster, "
                f"{row['commands_per_job'] / base['commands_per_job']:5.2f}x "
                "the commands"
            )

    args.output.write_text(json.dumps(asdict(results), indent=2) + "\n")
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
