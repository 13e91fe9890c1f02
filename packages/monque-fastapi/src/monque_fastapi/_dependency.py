"""`MonqueDep`: the app's `Monque` instance as a FastAPI dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from monque import Monque

__all__ = ["MonqueDep", "get_monque"]


def get_monque(connection: HTTPConnection) -> Monque:
    """Return the `Monque` instance that `monque_lifespan` started for the app.

    It is found in the lifespan state, or else on `app.state.monque`.

    Raises:
        RuntimeError: The app was not started with `monque_lifespan`.
    """
    monque = getattr(connection.state, "monque", None)
    if monque is None:
        monque = getattr(connection.app.state, "monque", None)

    if not isinstance(monque, Monque):
        raise RuntimeError(
            "no Monque instance on this app: pass monque_lifespan(settings, ...) "
            "as the app's lifespan"
        )

    return monque


MonqueDep = Annotated[Monque, Depends(get_monque)]
"""The app's `Monque` instance, for routes and job handlers that enqueue or
manage jobs: `async def route(monque: MonqueDep)`."""
