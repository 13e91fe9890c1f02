"""Worker processes that die holding jobs: the jobs are recovered, or fail if poison.

Each worker here is a real process killed with SIGKILL, so it gets no chance to
release anything: only the leases and the stale sweep of another instance can
bring its jobs back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import textwrap
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from pymongo.asynchronous.database import AsyncDatabase

from monque import Job, JobCompleted, JobStatus, Monque, StaleJobsRecovered
from monque_testing import until

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]
Database = AsyncDatabase[dict[str, Any]]

HEARTBEAT = 0.2
LOCK_TIMEOUT = 1.0
SWEEP = 0.25
MAX_RECOVERIES = 2

WORKER_SCRIPT = textwrap.dedent(
    """
    import os
    import signal

    import anyio
    from pymongo import AsyncMongoClient

    from monque import Job, Monque


    async def main() -> None:
        client = AsyncMongoClient(os.environ["CRASH_TEST_URI"], tz_aware=True)
        db = client[os.environ["CRASH_TEST_DB"]]
        monque = Monque(
            db,
            instance_id=os.environ["CRASH_TEST_ID"],
            worker_concurrency=4,
            poll_interval=0.05,
            heartbeat_interval=float(os.environ["CRASH_TEST_HEARTBEAT"]),
            lock_timeout=float(os.environ["CRASH_TEST_LOCK_TIMEOUT"]),
            max_recoveries=int(os.environ["CRASH_TEST_MAX_RECOVERIES"]),
        )

        @monque.job("crash.hang")
        async def hang(job: Job) -> None:
            await anyio.sleep_forever()

        @monque.job("crash.poison")
        async def poison(job: Job) -> None:
            await db["attempts"].update_one(
                {"_id": job.id}, {"$inc": {"n": 1}}, upsert=True
            )
            os.kill(os.getpid(), signal.SIGKILL)

        async with monque:
            print("Worker ready", flush=True)
            await anyio.sleep_forever()


    anyio.run(main)
    """
)


class WorkerProcess:
    """A worker process and its log."""

    def __init__(self, process: Process, log: Path, instance_id: str) -> None:
        self.process = process
        self.log = log
        self.instance_id = instance_id

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def exited(self) -> int:
        with anyio.fail_after(30):
            return await self.process.wait()


@contextlib.asynccontextmanager
async def worker_process(
    tmp_path: Path, *, uri: str, database: str
) -> AsyncIterator[WorkerProcess]:
    script = tmp_path / "crash_worker.py"
    script.write_text(WORKER_SCRIPT)
    instance_id = f"doomed-{uuid.uuid4().hex[:6]}"
    env = dict(os.environ)
    env.update(
        CRASH_TEST_URI=uri,
        CRASH_TEST_DB=database,
        CRASH_TEST_ID=instance_id,
        CRASH_TEST_HEARTBEAT=str(HEARTBEAT),
        CRASH_TEST_LOCK_TIMEOUT=str(LOCK_TIMEOUT),
        CRASH_TEST_MAX_RECOVERIES=str(MAX_RECOVERIES),
    )
    log = tmp_path / f"{instance_id}.log"
    with log.open("wb") as out:
        process = await anyio.open_process(
            [sys.executable, str(script)], stdout=out, stderr=out, env=env
        )

    try:
        yield WorkerProcess(process, log, instance_id)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

        await process.aclose()


def rescuer_options() -> dict[str, Any]:
    return {
        "instance_id": "rescuer",
        "heartbeat_interval": HEARTBEAT,
        "lock_timeout": LOCK_TIMEOUT,
        "stale_check_interval": SWEEP,
        "max_recoveries": MAX_RECOVERIES,
        "poll_interval": 0.05,
    }


async def test_jobs_of_a_killed_worker_process_are_finished_by_another_instance(
    make_monque: MakeMonque, database: Database, mongo_uri: str, tmp_path: Path
) -> None:
    jobs_collection = database["monque_jobs"]
    producer = make_monque()
    await producer.initialize()
    jobs = await producer.enqueue_many("crash.hang", [{"n": n} for n in range(4)])
    async with worker_process(tmp_path, uri=mongo_uri, database=database.name) as w:

        async def all_held() -> bool:
            assert w.process.returncode is None, w.output
            held = {"status": "processing", "claimedBy": w.instance_id}
            return await jobs_collection.count_documents(held) == len(jobs)

        await until(all_held)
        w.process.kill()
        assert await w.exited() != 0

    held = [doc async for doc in jobs_collection.find({"status": "processing"})]
    last_heartbeat = max(doc["lastHeartbeat"] for doc in held)
    assert len(held) == len(jobs)

    rescuer = make_monque(**rescuer_options())
    runs: Counter[str] = Counter()
    recovered: list[StaleJobsRecovered] = []
    done = anyio.Event()

    @rescuer.job("crash.hang")
    async def finish(job: Job) -> None:
        runs[job.id] += 1

    def on_completed(event: JobCompleted) -> None:
        if sum(runs.values()) == len(jobs):
            done.set()

    rescuer.on(JobCompleted, on_completed)
    rescuer.on(StaleJobsRecovered, recovered.append)
    async with rescuer:
        with anyio.fail_after(30):
            await done.wait()

    assert runs == Counter({job.id: 1 for job in jobs})
    assert sum(event.count for event in recovered) == len(jobs)
    docs = [doc async for doc in jobs_collection.find({})]
    assert {doc["status"] for doc in docs} == {"completed"}
    assert {doc["recoveryCount"] for doc in docs} == {1}
    # Each job was claimed again within lock_timeout plus one sweep of the dead
    # worker's last heartbeat, measured on the stored times. The slack covers
    # the claim after the sweep and scheduling on a loaded machine.
    bound = dt.timedelta(seconds=LOCK_TIMEOUT + SWEEP + 1.0)
    for doc in docs:
        assert doc["startedAt"] - last_heartbeat <= bound


async def test_a_job_that_kills_every_worker_fails_instead_of_looping(
    make_monque: MakeMonque, database: Database, mongo_uri: str, tmp_path: Path
) -> None:
    # An instance without handlers only sweeps: the poison job runs nowhere else.
    sweeper = make_monque(**rescuer_options())
    await sweeper.initialize()
    job = await sweeper.enqueue("crash.poison")
    deaths = 0
    async with sweeper:
        for _ in range(MAX_RECOVERIES + 2):
            current = await sweeper.get_job(job.id)
            assert current is not None
            if current.status is JobStatus.FAILED:
                break

            assert current.status is JobStatus.PENDING
            async with worker_process(
                tmp_path, uri=mongo_uri, database=database.name
            ) as w:
                assert await w.exited() != 0, w.output

            deaths += 1

            async def swept() -> bool:
                found = await sweeper.get_job(job.id)
                assert found is not None
                return found.status is not JobStatus.PROCESSING

            await until(swept)

    final = await sweeper.get_job(job.id)
    assert final is not None
    assert final.status is JobStatus.FAILED
    assert final.fail_reason is not None
    assert f"recovered from {MAX_RECOVERIES} dead or stalled workers" in (
        final.fail_reason
    )
    assert deaths == MAX_RECOVERIES + 1
    attempts = await database["attempts"].find_one({"_id": job.id})
    assert attempts is not None
    assert attempts["n"] == MAX_RECOVERIES + 1
