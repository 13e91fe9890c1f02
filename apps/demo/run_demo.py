"""Run the demo: a producer-only API node and a worker process sharing one queue.

    python apps/demo/run_demo.py [--jobs 200] [--max-concurrency 8]

Starts the SecantusDB test server unless MONGODB_URI is set, starts the API with
uvicorn (MONQUE_DISABLE_JOB_PROCESSING=true) and a worker with `monque worker`,
enqueues a burst of jobs through HTTP, shows their progress, prints a summary,
and stops everything it started. `nox -s demo` installs what it needs and runs it.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
from pymongo import MongoClient
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TimeElapsedColumn,
)

DEMO_DIR = Path(__file__).resolve().parent
ROOT = DEMO_DIR.parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from testserver import TestServer, find_free_port  # noqa: E402

console = Console(highlight=False)

READY_TIMEOUT = 30.0
RUN_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


class DemoError(Exception):
    """Raised when a step of the demo fails."""


class Node:
    """A demo process: its command line, its log file and its exit code."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path):
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise DemoError(
                f"the {self.name} exited with code {self.process.returncode}:\n"
                f"{self.tail()}"
            )

    def stop(self) -> int:
        """Ask the process to stop with SIGTERM; kill it if it does not."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

        return self.process.returncode

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def monque_command() -> list[str]:
    """The installed `monque` script, or the module when it is not on PATH."""
    script = shutil.which("monque", path=str(Path(sys.executable).parent))
    script = script or shutil.which("monque")
    return [script] if script else [sys.executable, "-m", "monque._cli"]


@contextmanager
def mongodb() -> Iterator[str]:
    """MONGODB_URI if set, or else a throwaway test server."""
    uri = os.environ.get("MONGODB_URI")
    if uri:
        console.print("Using MongoDB from MONGODB_URI")
        yield uri
        return

    with console.status("Starting the SecantusDB test server"):
        server = TestServer()
        server.start()

    try:
        console.print(f"Started the test server at {server.uri}")
        yield server.uri
    finally:
        server.stop()


@contextmanager
def throwaway_database(uri: str) -> Iterator[str]:
    name = f"monque_demo_{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        client: MongoClient[dict[str, Any]] = MongoClient(
            uri, serverSelectionTimeoutMS=5000
        )
        with client:
            client.drop_database(name)


def wait_until_ready(api: Node, worker: Node, base_url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    api_ready = worker_ready = False
    with console.status("Starting the API node and the worker"):
        while not (api_ready and worker_ready):
            api.check_alive()
            worker.check_alive()
            if time.monotonic() > deadline:
                raise DemoError(
                    f"the nodes were not ready within {READY_TIMEOUT:.0f} s:\n"
                    f"API:\n{api.tail()}\nworker:\n{worker.tail()}"
                )

            worker_ready = worker_ready or "Worker ready" in worker.output
            if not api_ready:
                try:
                    api_ready = httpx.get(f"{base_url}/health").status_code == 200
                except httpx.TransportError:
                    pass

            time.sleep(0.1)


async def enqueue_burst(
    client: httpx.AsyncClient, jobs: int, progress: Progress, task: TaskID
) -> None:
    limiter = anyio.CapacityLimiter(16)

    async def post(number: int) -> None:
        async with limiter:
            response = await client.post(
                "/jobs", json={"seconds": random.uniform(0.02, 0.08)}
            )
            response.raise_for_status()
            progress.advance(task)

    async with anyio.create_task_group() as burst:
        for number in range(jobs):
            burst.start_soon(post, number)


async def follow(
    client: httpx.AsyncClient,
    jobs: int,
    progress: Progress,
    task: TaskID,
    worker: Node,
) -> dict[str, Any]:
    with anyio.fail_after(RUN_TIMEOUT):
        while True:
            worker.check_alive()
            stats: dict[str, Any] = (await client.get("/stats")).json()
            done = stats["completed"] + stats["failed"]
            progress.update(
                task,
                completed=done,
                description=f"Processing on the worker ({stats['processing']} now)",
            )
            if done >= jobs:
                return stats

            await anyio.sleep(0.1)


async def drive(base_url: str, jobs: int, worker: Node) -> tuple[dict[str, Any], float]:
    columns = (
        *Progress.get_default_columns()[:2],
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        with Progress(*columns, console=console) as progress:
            enqueueing = progress.add_task("Enqueueing through POST /jobs", total=jobs)
            processing = progress.add_task("Processing on the worker", total=jobs)
            started = time.monotonic()
            async with anyio.create_task_group() as demo:
                demo.start_soon(enqueue_burst, client, jobs, progress, enqueueing)
                stats = await follow(client, jobs, progress, processing, worker)

            return stats, time.monotonic() - started


def print_summary(
    stats: dict[str, Any],
    jobs: int,
    max_concurrency: int,
    elapsed: float,
    shutdown: str,
) -> None:
    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0f} ms"

    rows = [
        (
            "jobs done",
            f"{stats['completed']} of {jobs}, {stats['failed']} failed,"
            f" in {elapsed:.1f} s",
        ),
        (
            "most processing at once",
            f"{stats['peak_running']} (max_concurrency = {max_concurrency})",
        ),
        (
            "enqueue-to-start latency",
            f"min {ms(stats['latency_min_ms'])}, p50 {ms(stats['latency_p50_ms'])},"
            f" p95 {ms(stats['latency_p95_ms'])}, max {ms(stats['latency_max_ms'])}",
        ),
        ("", "(the burst waits in the queue for free slots)"),
        ("shutdown", shutdown),
    ]
    console.print()
    console.print("[bold]Summary[/bold]")
    for label, value in rows:
        console.print(f"  {label:<26}{value}")


def run(arguments: argparse.Namespace) -> int:
    with ExitStack() as stack:
        uri = stack.enter_context(mongodb())
        database = stack.enter_context(throwaway_database(uri))
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        port = find_free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONQUE_")}
        env.update(
            MONQUE_MONGODB_URI=uri,
            MONQUE_DATABASE=database,
            MONQUE_MAX_CONCURRENCY=str(arguments.max_concurrency),
            MONQUE_WORKER_CONCURRENCY=str(arguments.max_concurrency * 2),
            MONQUE_SHUTDOWN_TIMEOUT="10",
        )
        api = Node(
            "API node",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "demo_app:app",
                "--app-dir",
                str(DEMO_DIR),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            {**env, "MONQUE_DISABLE_JOB_PROCESSING": "true"},
            logs / "api.log",
        )
        stack.callback(api.stop)
        worker = Node(
            "worker",
            [*monque_command(), "worker", "demo_app:app", "--app-dir", str(DEMO_DIR)],
            env,
            logs / "worker.log",
        )
        stack.callback(worker.stop)
        console.print(f"API node (producer only) on {base_url}")
        console.print(f"Worker with max_concurrency={arguments.max_concurrency}")
        wait_until_ready(api, worker, base_url)
        console.print("Both nodes are ready")

        stats, elapsed = anyio.run(drive, base_url, arguments.jobs, worker)

        worker_code, api_code = worker.stop(), api.stop()
        # uvicorn re-raises the signal it stopped on, so SIGTERM is its clean exit.
        api_clean = api_code in (0, -signal.SIGTERM) and (
            "Application shutdown complete" in api.output
        )
        shutdown = f"SIGTERM; worker exit code {worker_code}, API " + (
            "stopped cleanly" if api_clean else f"exit code {api_code}"
        )
        print_summary(
            stats, arguments.jobs, arguments.max_concurrency, elapsed, shutdown
        )
        if worker_code != 0 or not api_clean or stats["completed"] != arguments.jobs:
            console.print("[red]The demo did not end cleanly[/red]")
            console.print(f"API log:\n{api.tail()}\nworker log:\n{worker.tail()}")
            return 1

    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs in the burst")
    parser.add_argument(
        "--max-concurrency", type=int, default=8, help="the worker's instance limit"
    )
    arguments = parser.parse_args()
    try:
        return run(arguments)
    except DemoError as exc:
        console.print(f"[red]Demo failed:[/red] {exc}")
        return 1
    except KeyboardInterrupt:
        console.print("Interrupted; everything started was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
