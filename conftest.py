"""Fixtures shared by the tests of every package: MongoDB servers, clients, databases.

The tests run against SecantusDB, a MongoDB wire-compatible server started once per
session as a separate process (see ``tools/testserver.py``). With ``MONGODB_URI``
set, they use that server instead, and ``MONGODB_STANDALONE_URI`` (when set) names
a server without change streams for the tests that need one.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from testserver import ExternalServer, MongoServer, ServerFactory, TestServer

Document = dict[str, Any]

_URI_VARIABLE = "MONGODB_URI"
_STANDALONE_URI_VARIABLE = "MONGODB_STANDALONE_URI"


def _external_uri() -> str | None:
    return os.environ.get(_URI_VARIABLE) or None


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[MongoServer]:
    """The replica-set server every test shares."""
    uri = _external_uri()
    if uri is not None:
        yield ExternalServer(uri)
        return

    with TestServer() as server:
        yield server


@pytest.fixture(scope="session")
def standalone_server() -> Iterator[MongoServer]:
    """A server that refuses change streams, started on first use."""
    uri = os.environ.get(_STANDALONE_URI_VARIABLE) or None
    if uri is not None:
        yield ExternalServer(uri, standalone=True)
        return

    if _external_uri() is not None:
        pytest.skip(
            f"{_URI_VARIABLE} is set but {_STANDALONE_URI_VARIABLE} is not: "
            "no standalone server to test against"
        )

    with TestServer(standalone=True) as server:
        yield server


@pytest.fixture
def server_factory() -> Iterator[ServerFactory]:
    """Start extra servers for one test; all of them stop when it ends."""
    if _external_uri() is not None:
        pytest.skip(f"{_URI_VARIABLE} is set: tests that start servers do not run")

    with contextlib.ExitStack() as stack:

        def start(
            *,
            standalone: bool = False,
            storage_path: str = ":memory:",
            port: int | None = None,
        ) -> TestServer:
            server = TestServer(
                standalone=standalone, storage_path=storage_path, port=port
            )
            stack.callback(server.stop)
            server.start()
            return server

        yield start


@pytest.fixture
def mongo_uri(mongo_server: MongoServer) -> str:
    return mongo_server.uri


@contextlib.asynccontextmanager
async def _client(uri: str) -> AsyncIterator[AsyncMongoClient[Document]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        uri,
        serverSelectionTimeoutMS=10_000,
        socketTimeoutMS=60_000,
        connectTimeoutMS=10_000,
        tz_aware=True,
    )
    try:
        yield client
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def _fresh_database(
    client: AsyncMongoClient[Document],
) -> AsyncIterator[AsyncDatabase[Document]]:
    name = f"monque_test_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)


@pytest.fixture
async def mongo_client(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[Document]]:
    async with _client(mongo_uri) as client:
        yield client


@pytest.fixture
async def database(
    mongo_client: AsyncMongoClient[Document],
) -> AsyncIterator[AsyncDatabase[Document]]:
    """A database of its own for one test, dropped when the test ends."""
    async with _fresh_database(mongo_client) as db:
        yield db


@pytest.fixture
async def standalone_database(
    standalone_server: MongoServer,
) -> AsyncIterator[AsyncDatabase[Document]]:
    """A database of its own on the standalone server, dropped when the test ends."""
    async with _client(standalone_server.uri) as client, _fresh_database(client) as db:
        yield db
