"""The instance-wide count of running jobs behind `max_concurrency`."""

from __future__ import annotations

from collections.abc import Callable

import anyio

__all__ = ["InstanceSlots"]


class InstanceSlots:
    """Counts the jobs one instance runs and hands out free slots.

    A worker reserves slots before it claims, so two workers of one instance can
    never claim more than the free slots between them; it gives back the slots of
    jobs it did not get. Workers that were refused a slot are woken as soon as
    one frees.
    """

    def __init__(self, capacity: int | None) -> None:
        self.capacity = capacity
        self.in_use = 0
        self._waiting: set[Callable[[], None]] = set()
        self._idle: anyio.Event | None = None

    @property
    def free(self) -> int | None:
        """Free slots, or `None` when the instance has no limit."""
        if self.capacity is None:
            return None

        return max(self.capacity - self.in_use, 0)

    def reserve(self, wanted: int, *, on_free: Callable[[], None]) -> int:
        """Take up to `wanted` slots and return how many were taken.

        When fewer than `wanted` were free, `on_free` is called once the next
        slot frees.
        """
        granted = wanted if self.capacity is None else min(wanted, self.free or 0)
        if granted < wanted:
            self._waiting.add(on_free)

        self.in_use += granted
        return granted

    def release(self, count: int = 1) -> None:
        """Give back `count` slots and wake the workers that were refused one."""
        if count <= 0:
            return

        self.in_use -= count
        if self.in_use < 0:
            raise RuntimeError("more instance slots released than reserved")

        waiting = list(self._waiting)
        self._waiting.clear()
        for wake in waiting:
            wake()

        if self.in_use == 0 and self._idle is not None:
            self._idle.set()
            self._idle = None

    async def wait_idle(self) -> None:
        """Return once no slot is in use."""
        if self.in_use == 0:
            return

        if self._idle is None:
            self._idle = anyio.Event()

        await self._idle.wait()
