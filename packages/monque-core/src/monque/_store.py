"""Every read and write of the jobs collection, each one fenced where it must be."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.errors import DuplicateKeyError

from ._job import Job, JobStatus

__all__ = [
    "CLAIM_INDEX",
    "CLAIM_SORT",
    "FINISHED_CLAIM",
    "Claim",
    "JobStore",
    "utcnow",
]

Document = dict[str, Any]

PENDING = JobStatus.PENDING.value
PROCESSING = JobStatus.PROCESSING.value
COMPLETED = JobStatus.COMPLETED.value
FAILED = JobStatus.FAILED.value

CLAIM_INDEX = "monque_claim"
CLAIM_SORT = [("priority", DESCENDING), ("nextRunAt", ASCENDING), ("_id", ASCENDING)]
# A batch claim that loses candidates to a competing instance tries again for
# the rest at most this often in all.
_CLAIM_ROUNDS = 3
# How many times the jobs it wants a claim reads while competitors take the
# same candidates, so that a lost round can go on without a read of its own.
_SPARE_READ = 2
# A claim that loses candidates makes the claims of its job name read spares
# until this many of them in a row have lost nothing.
_CONTENDED_CLAIMS = 10
FINISHED_CLAIM = "lastClaimToken"
"""The field an outcome write stamps with the claim token it finished."""

_LEASE_FIELDS = {
    "lockedAt": "",
    "claimedBy": "",
    "claimToken": "",
    "lastHeartbeat": "",
    "heartbeatInterval": "",
}


class Claim(NamedTuple):
    """The jobs one claim obtained, and whether it found the queue drained."""

    jobs: list[Job]
    drained: bool
    """Fewer jobs than wanted were due: not only taken by competitors."""


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC, at MongoDB's millisecond grain."""
    now = dt.datetime.now(dt.timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class JobStore:
    """The jobs collection of one instance.

    Writes that finish a job match the job's id, `status: processing`, this
    instance as `claimedBy` and the claim's token, so that an owner whose lease
    was taken away changes nothing.
    """

    def __init__(
        self,
        collection: AsyncCollection[Document],
        *,
        instance_id: str,
        heartbeat_interval: float,
    ) -> None:
        self.collection = collection
        self.instance_id = instance_id
        self._heartbeat_ms = int(heartbeat_interval * 1000)
        # Job names whose claims lose candidates to competing instances, each
        # with how many clean claims in a row it takes to stop reading spares.
        self._contended: dict[str, int] = {}

    async def ensure_indexes(self) -> None:
        """Create the indexes behind every hot query; existing ones are kept."""
        await self.collection.create_indexes(
            [
                IndexModel(
                    [("name", ASCENDING), ("status", ASCENDING), *CLAIM_SORT],
                    name=CLAIM_INDEX,
                ),
                IndexModel(
                    [("status", ASCENDING), ("lastHeartbeat", ASCENDING)],
                    name="monque_stale",
                ),
                IndexModel(
                    [("name", ASCENDING), ("uniqueKey", ASCENDING)],
                    name="monque_unique",
                    unique=True,
                    partialFilterExpression={
                        "uniqueKey": {"$exists": True},
                        "status": {"$in": [PENDING, PROCESSING]},
                    },
                ),
                IndexModel(
                    [("status", ASCENDING), ("updatedAt", ASCENDING)],
                    name="monque_status_updated",
                ),
                IndexModel(
                    [
                        ("name", ASCENDING),
                        ("status", ASCENDING),
                        ("nextRunAt", ASCENDING),
                    ],
                    name="monque_next_due",
                ),
                IndexModel([("claimToken", ASCENDING)], name="monque_claim_token"),
                IndexModel(
                    [("status", ASCENDING), ("_id", ASCENDING)],
                    name="monque_list_status",
                ),
                IndexModel(
                    [("name", ASCENDING), ("status", ASCENDING), ("_id", ASCENDING)],
                    name="monque_list_name",
                ),
            ]
        )

    async def insert(
        self, document: Document, *, session: AsyncClientSession | None = None
    ) -> tuple[Document, bool]:
        """Store a new job; return it and whether it was created.

        A job whose unique key is held by a pending or processing job is not
        stored: the holder comes back instead. Inside a transaction the holder
        is looked up first, because a duplicate-key error would abort the
        caller's transaction.
        """
        in_transaction = session is not None and session.in_transaction
        while True:
            if in_transaction and "uniqueKey" in document:
                holder = await self._unique_holder(document, session)
                if holder is not None:
                    return holder, False

            try:
                await self.collection.insert_one(document, session=session)
            except DuplicateKeyError:
                if in_transaction:
                    raise

                existing = await self._unique_holder(document, session)
                if existing is not None:
                    return existing, False

                # The holder finished between the two round trips: try again.
                continue

            return document, True

    async def _unique_holder(
        self, document: Document, session: AsyncClientSession | None
    ) -> Document | None:
        return await self.collection.find_one(
            {
                "name": document["name"],
                "uniqueKey": document["uniqueKey"],
                "status": {"$in": [PENDING, PROCESSING]},
            },
            session=session,
        )

    async def insert_many(
        self,
        documents: Sequence[Document],
        *,
        session: AsyncClientSession | None = None,
    ) -> list[Document]:
        """Store jobs without unique keys in one round trip, in order."""
        if documents:
            await self.collection.insert_many(
                list(documents), ordered=True, session=session
            )

        return list(documents)

    async def find(self, job_id: ObjectId) -> Document | None:
        """Return one job's document, or `None`."""
        return await self.collection.find_one({"_id": job_id})

    def _claim_update(self, now: dt.datetime, token: str) -> Document:
        return {
            "$set": {
                "status": PROCESSING,
                "claimedBy": self.instance_id,
                "claimToken": token,
                "lockedAt": now,
                "startedAt": now,
                "lastHeartbeat": now,
                "heartbeatInterval": self._heartbeat_ms,
                "updatedAt": now,
            }
        }

    async def claim(self, name: str, limit: int, *, batch: bool = True) -> Claim:
        """Claim up to `limit` due jobs of `name`, in claim order.

        With `batch`, several jobs are claimed in two round trips whatever
        their number: read the candidates in claim order, then update under a
        new claim token those still pending and unchanged since the read (same
        `updatedAt`), so the documents read are the ones claimed. Only when a
        competing instance took or changed some candidates in between does a
        third round trip read back what carries the token; the others are simply
        not returned, and up to two more rounds try for the jobs still wanted.
        Once a claim of `name` has lost a race, claims read twice the jobs they
        want, so that the round after a lost race tries the candidates behind
        those a competitor took without reading again.
        Without `batch`, each job takes one find-and-modify.
        """
        if limit <= 0:
            return Claim([], drained=False)

        now = utcnow()
        due = self._due(name, now)
        if limit == 1 or not batch:
            each = await self._claim_each(due, limit, now)
            return Claim(each, drained=len(each) < limit)

        jobs: list[Job] = []
        spare: list[Document] = []
        more = True
        for _ in range(_CLAIM_ROUNDS):
            wanted = limit - len(jobs)
            if len(spare) < wanted and more:
                read = wanted * (_SPARE_READ if name in self._contended else 1)
                spare = [doc async for doc in self._candidates(due, read)]
                more = len(spare) == read

            candidates, spare = spare[:wanted], spare[wanted:]
            if not candidates:
                break

            claimed = await self._claim_candidates(due, candidates, now)
            jobs += claimed
            if len(claimed) < len(candidates):
                self._contended[name] = _CONTENDED_CLAIMS
            elif len(candidates) == limit and name in self._contended:
                # A first round that lost nothing: the race may be over.
                self._contended[name] -= 1
                if not self._contended[name]:
                    del self._contended[name]

            if len(jobs) == limit or not (more or spare):
                break

        return Claim(jobs, drained=len(jobs) < limit and not (more or spare))

    async def _claim_candidates(
        self, due: Document, candidates: list[Document], now: dt.datetime
    ) -> list[Job]:
        """Claim those of `candidates` still due and unchanged since the read."""
        token = uuid.uuid4().hex
        update = self._claim_update(now, token)
        unchanged = [
            {"_id": doc["_id"], "updatedAt": doc.get("updatedAt")} for doc in candidates
        ]
        result = await self.collection.update_many({**due, "$or": unchanged}, update)
        if result.modified_count == len(candidates):
            return [Job.from_document(doc | update["$set"]) for doc in candidates]

        if result.modified_count == 0:
            return []

        claimed = self.collection.find({"claimToken": token}, sort=CLAIM_SORT)
        return [Job.from_document(doc) async for doc in claimed]

    @staticmethod
    def _due(name: str, now: dt.datetime) -> Document:
        return {"name": name, "status": PENDING, "nextRunAt": {"$lte": now}}

    def _candidates(self, due: Document, limit: int) -> AsyncCursor[Document]:
        # The hint keeps planners from sorting in memory through another index.
        return self.collection.find(due, sort=CLAIM_SORT, limit=limit, hint=CLAIM_INDEX)

    async def explain_claim(self, name: str, limit: int) -> Document:
        """The server's plan for the query that picks the jobs to claim."""
        return await self._candidates(self._due(name, utcnow()), limit).explain()

    async def _claim_each(
        self, due: Document, limit: int, now: dt.datetime
    ) -> list[Job]:
        jobs: list[Job] = []
        for _ in range(limit):
            doc = await self.collection.find_one_and_update(
                due,
                self._claim_update(now, uuid.uuid4().hex),
                sort=CLAIM_SORT,
                hint=CLAIM_INDEX,
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                break

            jobs.append(Job.from_document(doc))

        return jobs

    def fence(self, job: Job) -> Document:
        """The filter that matches `job` only while this claim still owns it."""
        return {
            "_id": ObjectId(job.id),
            "status": PROCESSING,
            "claimedBy": self.instance_id,
            "claimToken": job.claim_token,
        }

    async def _finish(self, job: Job, update: Document) -> bool:
        result = await self.collection.update_one(self.fence(job), update)
        return result.matched_count == 1

    def completion(self, job: Job, *, next_run_at: dt.datetime | None) -> Document:
        """The update that records a successful attempt of `job`.

        A recurring job goes back to `pending` at `next_run_at` instead. The
        update stamps the claim token it finishes as `lastClaimToken`, so a
        reader can tell afterwards whether this very write took effect.
        """
        now = utcnow()
        fields: Document = {"updatedAt": now, FINISHED_CLAIM: job.claim_token}
        unset: Document = dict(_LEASE_FIELDS)
        if next_run_at is None:
            fields |= {"status": COMPLETED, "completedAt": now}
        else:
            # A run that completed proves the job is no poison: its next run
            # starts with a clean record.
            fields |= {"status": PENDING, "nextRunAt": next_run_at, "failCount": 0}
            unset["recoveryCount"] = ""

        return {"$set": fields, "$unset": unset}

    def failure(
        self, job: Job, *, reason: str, retry_at: dt.datetime | None
    ) -> Document:
        """The update that records a failed attempt: retry at `retry_at`, or fail."""
        now = utcnow()
        fields: Document = {
            "failReason": reason,
            "updatedAt": now,
            FINISHED_CLAIM: job.claim_token,
        }
        if retry_at is None:
            fields |= {"status": FAILED, "failedAt": now}
        else:
            fields |= {"status": PENDING, "nextRunAt": retry_at}

        return {"$set": fields, "$inc": {"failCount": 1}, "$unset": _LEASE_FIELDS}

    async def complete(self, job: Job, *, next_run_at: dt.datetime | None) -> bool:
        """Record a successful attempt; return whether this instance still owned it.

        A recurring job goes back to `pending` at `next_run_at` instead.
        """
        return await self._finish(job, self.completion(job, next_run_at=next_run_at))

    async def fail(
        self, job: Job, *, reason: str, retry_at: dt.datetime | None
    ) -> bool:
        """Record a failed attempt: retry at `retry_at`, or fail for good."""
        update = self.failure(job, reason=reason, retry_at=retry_at)
        return await self._finish(job, update)

    async def release(self, job: Job) -> bool:
        """Hand a claimed job back to `pending` without counting an attempt."""
        update = {"$set": {"status": PENDING, "updatedAt": utcnow()}}
        return await self._finish(job, {**update, "$unset": _LEASE_FIELDS})

    async def heartbeat(self, jobs: Iterable[Job]) -> list[tuple[Job, str | None]]:
        """Renew the leases of the jobs this instance holds.

        Returns:
            The jobs among `jobs` whose lease this instance no longer holds,
            each with its status now (`None` for a deleted job): they were
            cancelled, or recovered and maybe claimed again.
        """
        held = [job for job in jobs if job.claim_token]
        if not held:
            return []

        # A batch claim gives all its jobs one token: match on ids and tokens.
        now = utcnow()
        result = await self.collection.update_many(
            {
                "_id": {"$in": [ObjectId(job.id) for job in held]},
                "status": PROCESSING,
                "claimedBy": self.instance_id,
                "claimToken": {"$in": list({job.claim_token for job in held})},
            },
            {"$set": {"lastHeartbeat": now}},
        )
        if result.matched_count >= len(held):
            return []

        # Rare: read back which leases were not renewed.
        found = self.collection.find(
            {"_id": {"$in": list({ObjectId(job.id) for job in held})}},
            {"status": 1, "claimedBy": 1, "claimToken": 1},
        )
        docs = {str(doc["_id"]): doc async for doc in found}
        lost: list[tuple[Job, str | None]] = []
        for job in held:
            doc = docs.get(job.id, {})
            owned = (
                doc.get("status") == PROCESSING
                and doc.get("claimedBy") == self.instance_id
                and doc.get("claimToken") == job.claim_token
            )
            if not owned:
                lost.append((job, doc.get("status")))

        return lost

    async def recover_stale(
        self, *, lock_timeout: float, max_recoveries: int
    ) -> tuple[int, int]:
        """Take back jobs whose lease expired; return (recovered, failed).

        A job that was already recovered `max_recoveries` times fails instead,
        so that a job which kills its worker cannot loop forever.
        """
        now = utcnow()
        stale: Document = {
            "status": PROCESSING,
            "lastHeartbeat": {"$lt": now - dt.timedelta(seconds=lock_timeout)},
        }
        too_often = stale
        if max_recoveries > 0:
            too_often = {**stale, "recoveryCount": {"$gte": max_recoveries}}

        failed = await self.collection.update_many(
            too_often,
            {
                "$set": {
                    "status": FAILED,
                    "failedAt": now,
                    "updatedAt": now,
                    "failReason": (
                        f"recovered from {max_recoveries} dead or stalled workers; "
                        "giving up"
                    ),
                },
                "$unset": _LEASE_FIELDS,
            },
        )
        recovered = await self.collection.update_many(
            stale,
            {
                "$set": {"status": PENDING, "updatedAt": now},
                "$inc": {"recoveryCount": 1},
                "$unset": _LEASE_FIELDS,
            },
        )
        return recovered.modified_count, failed.modified_count

    async def next_due(self, name: str) -> dt.datetime | None:
        """When the earliest pending job of `name` is due, if there is one."""
        doc = await self.collection.find_one(
            {"name": name, "status": PENDING},
            {"nextRunAt": 1},
            sort=[("nextRunAt", ASCENDING)],
        )
        return None if doc is None else doc.get("nextRunAt")

    @staticmethod
    def new_document(
        name: str,
        data: Any,
        *,
        run_at: dt.datetime,
        priority: int = 0,
        unique_key: str | None = None,
        max_retries: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Document:
        """Build the document of a new pending job."""
        now = utcnow()
        doc: Document = {
            "_id": ObjectId(),
            "name": name,
            "data": data,
            "status": PENDING,
            "nextRunAt": run_at,
            "priority": priority,
            "failCount": 0,
            "createdAt": now,
            "updatedAt": now,
        }
        if unique_key is not None:
            doc["uniqueKey"] = unique_key

        if max_retries is not None:
            doc["maxRetries"] = max_retries

        doc.update(extra or {})
        return doc
