"""Transactional enqueue: a job commits or rolls back with the caller's writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from monque import Job, Monque

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]
Database = AsyncDatabase[dict[str, Any]]
Client = AsyncMongoClient[dict[str, Any]]


class Rollback(Exception):
    pass


async def _prepare(database: Database) -> None:
    # Collections cannot be created inside a transaction on every server version.
    await database.create_collection("orders")


async def test_job_commits_with_the_callers_writes(
    make_monque: MakeMonque, database: Database, mongo_client: Client
) -> None:
    monque = make_monque()
    await monque.initialize()
    await _prepare(database)

    async with mongo_client.start_session() as session:

        async def place_order(session: AsyncClientSession) -> Job:
            await database["orders"].insert_one({"_id": 1}, session=session)
            job = await monque.enqueue("invoice", {"order": 1}, session=session)
            await monque.enqueue_many("notify", [1, 2], session=session)
            assert await monque.get_job(job.id) is None
            return job

        job = await session.with_transaction(place_order)

    assert await database["orders"].count_documents({}) == 1
    assert await monque.get_job(job.id) is not None
    assert await database["monque_jobs"].count_documents({}) == 3


async def test_job_rolls_back_with_the_callers_writes(
    make_monque: MakeMonque, database: Database, mongo_client: Client
) -> None:
    monque = make_monque()
    await monque.initialize()
    await _prepare(database)

    with pytest.raises(Rollback):
        async with mongo_client.start_session() as session:
            async with await session.start_transaction():
                await database["orders"].insert_one({"_id": 1}, session=session)
                await monque.enqueue("invoice", {"order": 1}, session=session)
                raise Rollback

    assert await database["orders"].count_documents({}) == 0
    assert await database["monque_jobs"].count_documents({}) == 0


async def test_unique_key_inside_a_transaction_returns_the_holder(
    make_monque: MakeMonque, database: Database, mongo_client: Client
) -> None:
    monque = make_monque()
    await monque.initialize()
    held = await monque.enqueue("invoice", unique_key="order-1")

    async with mongo_client.start_session() as session:
        async with await session.start_transaction():
            again = await monque.enqueue(
                "invoice", unique_key="order-1", session=session
            )
            # The transaction is still usable: no duplicate-key error aborted it.
            await database["orders"].insert_one({"_id": 1}, session=session)

    assert again.id == held.id
    assert await database["orders"].count_documents({}) == 1
    assert await database["monque_jobs"].count_documents({}) == 1


async def test_a_session_without_a_transaction_is_accepted(
    make_monque: MakeMonque, mongo_client: Client
) -> None:
    monque = make_monque()
    await monque.initialize()

    async with mongo_client.start_session() as session:
        job = await monque.enqueue("invoice", session=session)

    assert await monque.get_job(job.id) is not None
