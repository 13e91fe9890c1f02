"""`health_router`: a route that reports the scheduler's health and a database ping."""

from __future__ import annotations

import logging
import math
from typing import Literal

import anyio
from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel
from pymongo.errors import PyMongoError

from ._dependency import MonqueDep

__all__ = ["MonqueHealth", "health_router"]

logger = logging.getLogger("monque.fastapi")


class MonqueHealth(BaseModel):
    """The body of the health route.

    Attributes:
        status: `ok` when the database answered and, unless job processing is
            disabled, the scheduler is healthy; `unavailable` otherwise.
        scheduler_healthy: What `Monque.is_healthy()` says: initialized,
            started and not stopping. Always false on a producer-only node.
        database_reachable: Whether the database answered a ping in time.
        job_processing_enabled: Whether this node processes jobs, or only
            produces them (`disable_job_processing`).
    """

    status: Literal["ok", "unavailable"]
    scheduler_healthy: bool
    database_reachable: bool
    job_processing_enabled: bool


def health_router(
    *,
    path: str = "/health",
    ping_timeout: float = 2.0,
    tags: list[str] | None = None,
    include_in_schema: bool = True,
) -> APIRouter:
    """Build a router with one `GET` route reporting the scheduler's health.

    The route answers 200 with a `MonqueHealth` body when the node is healthy,
    and 503 with the same body when it is not, which suits load balancer and
    orchestrator probes. A producer-only node is healthy while its database
    answers, although its `Monque.is_healthy()` is false by design.

    ```python
    app.include_router(health_router(path="/health/jobs"))
    ```

    Args:
        path: The route's path.
        ping_timeout: Seconds the database ping may take before it counts as
            failed.
        tags: OpenAPI tags of the route.
        include_in_schema: Whether the route appears in the OpenAPI schema.

    Raises:
        ValueError: `ping_timeout` is not a positive number.
    """
    timeout: object = ping_timeout
    if not isinstance(timeout, (int, float)) or not (
        math.isfinite(timeout) and timeout > 0
    ):
        raise ValueError(f"ping_timeout must be a positive number, not {timeout!r}")

    router = APIRouter(tags=list(tags or []))

    @router.get(
        path,
        response_model=MonqueHealth,
        include_in_schema=include_in_schema,
        responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": MonqueHealth}},
        summary="Job scheduler health",
    )
    async def monque_health(
        monque: MonqueDep, request: Request, response: Response
    ) -> MonqueHealth:
        reachable = False
        with anyio.move_on_after(ping_timeout):
            try:
                await monque.db.command("ping")
            except PyMongoError as exc:
                logger.warning(
                    "Health check: the database ping failed: %s",
                    exc,
                    extra={"action": "health_check"},
                )
            else:
                reachable = True

        settings = getattr(request.state, "monque_settings", None)
        if settings is None:
            settings = getattr(request.app.state, "monque_settings", None)

        processing = not getattr(settings, "disable_job_processing", False)
        healthy = monque.is_healthy()
        ok = reachable and (healthy or not processing)
        if not ok:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE

        return MonqueHealth(
            status="ok" if ok else "unavailable",
            scheduler_healthy=healthy,
            database_reachable=reachable,
            job_processing_enabled=processing,
        )

    return router
