from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import Any

import anyio
import pymongo
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from testserver import (
    MongoServer,
    ServerFactory,
    TestServer,
    TestServerError,
    find_free_port,
)

Document = dict[str, Any]

pytestmark = pytest.mark.integration


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False

    return True


def _client(uri: str) -> pymongo.MongoClient[Document]:
    return pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000)


def _count(uri: str, collection: str) -> int:
    with _client(uri) as client:
        return client.test[collection].count_documents({})


def test_free_port_can_be_bound() -> None:
    port = find_free_port()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_shared_server_answers_ping(mongo_server: MongoServer) -> None:
    with _client(mongo_server.uri) as client:
        assert client.admin.command("ping")["ok"] == 1


@pytest.mark.anyio
async def test_database_is_fresh_and_uses_aware_datetimes(
    database: AsyncDatabase[Document],
) -> None:
    assert database.name.startswith("monque_test_")
    assert await database.list_collection_names() == []

    await database.jobs.insert_one({"at": "now"})
    assert database.client.codec_options.tz_aware


_used_databases: list[str] = []


@pytest.mark.anyio
async def test_database_is_fresh_per_test(database: AsyncDatabase[Document]) -> None:
    await database.jobs.insert_one({})

    assert database.name not in _used_databases
    _used_databases.append(database.name)


@pytest.mark.anyio
async def test_database_is_dropped_after_its_test(
    mongo_client: AsyncMongoClient[Document],
) -> None:
    if not _used_databases:
        pytest.skip("runs after test_database_is_fresh_per_test")

    names = await mongo_client.list_database_names()

    assert not set(_used_databases) & set(names)


@pytest.mark.anyio
async def test_shared_server_delivers_change_streams(
    database: AsyncDatabase[Document],
) -> None:
    async with await database.jobs.watch() as stream:
        await database.jobs.insert_one({"name": "email.send"})
        with anyio.fail_after(10):
            change = await stream.next()

    assert change["operationType"] == "insert"
    assert change["fullDocument"]["name"] == "email.send"


@pytest.mark.anyio
async def test_standalone_server_refuses_change_streams(
    standalone_database: AsyncDatabase[Document],
) -> None:
    with pytest.raises(OperationFailure) as caught:
        await standalone_database.jobs.watch()

    assert caught.value.code == 40573


def test_restart_on_disk_keeps_data_and_port(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory(storage_path=str(tmp_path / "data"))
    port = server.port
    with _client(server.uri) as client:
        client.test.jobs.insert_many([{"n": 1}, {"n": 2}])

    server.restart()

    assert server.running
    assert server.port == port
    assert _count(server.uri, "jobs") == 2


def test_restart_in_memory_starts_empty(server_factory: ServerFactory) -> None:
    server = server_factory()
    with _client(server.uri) as client:
        client.test.jobs.insert_one({})

    server.restart()

    assert _count(server.uri, "jobs") == 0


def test_stop_leaves_no_process_and_is_idempotent(
    server_factory: ServerFactory,
) -> None:
    server = server_factory()
    pid = server.pid
    assert pid is not None
    assert _is_alive(pid)

    server.stop()
    server.stop()

    assert not server.running
    assert server.pid is None
    assert not _is_alive(pid)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", server.port)) == errno.ECONNREFUSED


def test_context_manager_stops_the_server() -> None:
    with TestServer() as server:
        pid = server.pid
        assert server.running

    assert pid is not None
    assert not _is_alive(pid)


def test_start_refuses_a_port_in_use(server_factory: ServerFactory) -> None:
    taken = server_factory()

    with pytest.raises(TestServerError, match="already in use"):
        server_factory(port=taken.port)

    assert taken.running


def test_start_failure_reports_the_log_tail(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")

    with pytest.raises(TestServerError, match="log tail") as caught:
        server_factory(storage_path=str(not_a_directory))

    assert "exited with code" in str(caught.value)
