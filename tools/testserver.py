"""Run a SecantusDB server in a separate process for tests, demos and benchmarks.

SecantusDB speaks the MongoDB wire protocol. By default it advertises a one-node
replica set, so change streams work; ``standalone=True`` makes it refuse them the way
a standalone ``mongod`` does (code 40573).

The module needs only the standard library, plus pymongo for the readiness check.
Run it as a script to keep a server up until interrupted::

    python tools/testserver.py [--standalone] [--port PORT] [--storage-path DIR]
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

__all__ = [
    "ExternalServer",
    "MongoServer",
    "ServerFactory",
    "TestServer",
    "TestServerError",
    "find_executable",
    "find_free_port",
]

HOST = "127.0.0.1"
EXECUTABLE = "secantusd-py"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_LOG_TAIL_LINES = 40


class TestServerError(RuntimeError):
    """Raised when the test server cannot be found, started or reached."""

    __test__ = False  # not a pytest test class, despite the name


def find_free_port() -> int:
    """Return a TCP port on the loopback interface that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def find_executable() -> str:
    """Return the path of ``secantusd-py``.

    The interpreter's own scripts directory comes first, so a virtual environment's
    server wins over one found on ``PATH``.
    """
    scripts = str(Path(sys.executable).parent)
    found = shutil.which(EXECUTABLE, path=scripts) or shutil.which(EXECUTABLE)
    if found is None:
        raise TestServerError(
            f"{EXECUTABLE} not found next to {sys.executable} or on PATH; "
            "install the pinned dev dependency SecantusDB"
        )

    return found


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The server sets SO_REUSEADDR too, so connections left in TIME_WAIT by a
        # previous run on this port do not count as the port being taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False

    return True


class TestServer:
    """A SecantusDB server process listening on the loopback interface.

    Args:
        port: The TCP port; a free one is picked when omitted.
        standalone: Advertise a standalone server, which refuses change streams.
        storage_path: A directory that keeps the data across restarts, or
            ``":memory:"`` for a throwaway store.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        *,
        port: int | None = None,
        standalone: bool = False,
        storage_path: str = ":memory:",
    ) -> None:
        self.port = find_free_port() if port is None else port
        self.standalone = standalone
        self.storage_path = storage_path
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None

    @property
    def uri(self) -> str:
        """The connection string, with a direct connection to this one node."""
        return f"mongodb://{HOST}:{self.port}/?directConnection=true"

    @property
    def pid(self) -> int | None:
        """The server's process id while it has one."""
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path | None:
        """The server's log file while the server is started."""
        return None if self._workdir is None else self._workdir / "server.log"

    def start(self, *, timeout: float = START_TIMEOUT) -> None:
        """Spawn the server and wait until it answers a ping.

        Raises:
            TestServerError: The port is taken, or the server exited or did not
                answer within ``timeout`` seconds. The message ends with the tail of
                the server's log.
        """
        if self.running:
            return

        self.stop()
        if not _port_is_free(self.port):
            raise TestServerError(f"port {self.port} on {HOST} is already in use")

        workdir = self._workdir = Path(tempfile.mkdtemp(prefix="monque-testserver-"))
        # An explicit, empty config file stops the server from picking up a
        # secantusd.toml from the working or home directory.
        config = workdir / "secantusd.toml"
        config.write_text("")
        command = [
            find_executable(),
            "--config",
            str(config),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--storage-path",
            self.storage_path,
        ]
        if self.standalone:
            command.append("--standalone")

        with (workdir / "server.log").open("wb") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                start_new_session=True,
            )

        _live_servers.add(self)
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> None:
        """Terminate the server, then kill it if it has not exited within ``timeout``.

        Calling it on a server that is not running does nothing.
        """
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

        _live_servers.discard(self)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def restart(self, *, timeout: float = START_TIMEOUT) -> None:
        """Stop the server and start it again on the same port."""
        self.stop()
        self.start(timeout=timeout)

    def __enter__(self) -> TestServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        kind = "standalone" if self.standalone else "replica set"
        return f"<TestServer {self.uri} {kind} {state}>"

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise self._error(f"exited with code {code} before it was ready")

            if time.monotonic() > deadline:
                raise self._error(f"did not answer within {timeout:.0f} s")

            if self._accepts_connections() and self._answers_ping():
                return

            time.sleep(0.05)

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _answers_ping(self) -> bool:
        import pymongo
        from pymongo.errors import PyMongoError

        client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
            self.uri,
            serverSelectionTimeoutMS=2000,
            connectTimeoutMS=2000,
            socketTimeoutMS=5000,
        )
        try:
            client.admin.command("ping")
            status = client.admin.command("serverStatus")
        except PyMongoError:
            return False
        finally:
            client.close()

        # Another server that took the port first would answer too: only ours counts.
        return status.get("pid", self.pid) == self.pid

    def _error(self, reason: str) -> TestServerError:
        tail = ""
        if self.log_path is not None and self.log_path.exists():
            lines = self.log_path.read_text(errors="replace").splitlines()
            tail = "\n".join(lines[-_LOG_TAIL_LINES:])

        return TestServerError(
            f"{EXECUTABLE} on port {self.port} {reason}; log tail:\n{tail or '(empty)'}"
        )


@dataclass(frozen=True)
class ExternalServer:
    """A MongoDB server that runs outside the tests, named by its URI."""

    uri: str
    standalone: bool = False


class MongoServer(Protocol):
    """What the tests need of a server: where to connect and what it supports."""

    @property
    def uri(self) -> str:
        """The connection string."""
        ...

    @property
    def standalone(self) -> bool:
        """Whether the server refuses change streams."""
        ...


class ServerFactory(Protocol):
    """The type of the ``server_factory`` fixture."""

    def __call__(
        self,
        *,
        standalone: bool = False,
        storage_path: str = ":memory:",
        port: int | None = None,
    ) -> TestServer:
        """Start another server, stopped when the test ends."""
        ...


_live_servers: set[TestServer] = set()


@atexit.register
def _stop_live_servers() -> None:
    # A last resort for an interpreter that exits without stopping its servers.
    for server in list(_live_servers):
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Start a server, print its URI and keep it up until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument(
        "--standalone", action="store_true", help="refuse change streams"
    )
    parser.add_argument("--port", type=int, default=None, help="default: a free port")
    parser.add_argument("--storage-path", default=":memory:", help="a data directory")
    args = parser.parse_args(argv)

    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())

    server = TestServer(
        port=args.port, standalone=args.standalone, storage_path=args.storage_path
    )
    with server:
        print(server.uri, flush=True)
        while not stopping.is_set() and server.running:
            stopping.wait(0.5)

    return 0 if stopping.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
