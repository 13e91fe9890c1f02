"""A change stream that breaks resumes from its last token and misses no job."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any

import anyio
import pytest
from pymongo.errors import AutoReconnect

from monque import ChangeStreamConnected, Job, Monque

pytestmark = pytest.mark.anyio

MakeMonque = Callable[..., Monque]


class BreaksAfterOneChange:
    """A change stream that raises `error` once it delivered one change."""

    def __init__(self, stream: Any, error: Exception) -> None:
        self.stream = stream
        self.error = error
        self.delivered = 0
        self.token_of_first: Mapping[str, Any] | None = None

    @property
    def resume_token(self) -> Mapping[str, Any] | None:
        token: Mapping[str, Any] | None = self.stream.resume_token
        return token

    async def __aenter__(self) -> BreaksAfterOneChange:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stream.close()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._changes()

    async def _changes(self) -> AsyncIterator[Any]:
        async for change in self.stream:
            if self.delivered == 1:
                raise self.error

            self.delivered += 1
            self.token_of_first = self.stream.resume_token
            yield change


class FlakyCollection:
    """The jobs collection, whose first change stream breaks after one change.

    The second `watch` waits for `may_reopen`, so that the test can insert a job
    while no stream is open.
    """

    def __init__(self, collection: Any, error: Exception) -> None:
        self.collection = collection
        self.error = error
        self.resume_afters: list[Mapping[str, Any] | None] = []
        self.first: BreaksAfterOneChange | None = None
        self.reopening = anyio.Event()
        self.may_reopen = anyio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)

    async def watch(self, pipeline: Any, **options: Any) -> Any:
        self.resume_afters.append(options.get("resume_after"))
        if len(self.resume_afters) == 2:
            self.reopening.set()
            await self.may_reopen.wait()

        stream = await self.collection.watch(pipeline, **options)
        if self.first is None:
            self.first = BreaksAfterOneChange(stream, self.error)
            return self.first

        return stream


@pytest.mark.parametrize(
    "error",
    [
        AutoReconnect("connection reset by the test"),
        # Not a driver error: the watcher reports it and goes on all the same.
        RuntimeError("a bug in the stream"),
    ],
    ids=["driver_error", "unexpected_error"],
)
async def test_stream_resumes_from_its_token_after_an_error(
    make_monque: MakeMonque, error: Exception
) -> None:
    started: dict[str, anyio.Event] = {}

    async def handle(job: Job) -> None:
        started[job.data["n"]].set()

    # Polls once a minute: only the change stream can start the jobs sooner.
    worker = make_monque(poll_interval=60.0)
    worker.register("report", handle)
    flaky = FlakyCollection(worker._watcher.collection, error)
    worker._watcher.collection = flaky  # type: ignore[assignment]
    connected = anyio.Event()
    worker.on(ChangeStreamConnected, lambda event: connected.set())
    producer = make_monque()
    await producer.initialize()
    await worker.initialize()
    await worker.start()
    with anyio.fail_after(10):
        await connected.wait()

    started["a"], started["b"], started["c"] = (
        anyio.Event(),
        anyio.Event(),
        anyio.Event(),
    )
    await producer.enqueue("report", {"n": "a"})
    with anyio.fail_after(10):
        await started["a"].wait()

    # The next change breaks the stream; "c" is inserted while none is open.
    await producer.enqueue("report", {"n": "b"})
    with anyio.fail_after(10):
        await flaky.reopening.wait()

    await producer.enqueue("report", {"n": "c"})
    flaky.may_reopen.set()
    with anyio.fail_after(10):
        await started["b"].wait()
        await started["c"].wait()

    assert flaky.first is not None
    assert flaky.resume_afters[0] is None
    # Reopened after the last change the watcher saw (job "a"), not from now:
    # "b", which broke the stream, and "c", inserted while none was open, are
    # delivered by the resumed stream.
    assert flaky.first.token_of_first is not None
    assert flaky.resume_afters[1] == flaky.first.token_of_first
    assert worker._watcher.connected
