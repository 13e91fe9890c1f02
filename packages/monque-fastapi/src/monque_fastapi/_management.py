"""`management_router`: list, inspect, retry and cancel jobs over HTTP."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

from bson import json_util
from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel

from monque import InvalidJobStateError, Job, JobNotFoundError, JobStatus

from ._dependency import MonqueDep

__all__ = ["JobListModel", "JobModel", "QueueStatsModel", "management_router"]

# Starlette renamed the constant of 422; the number is the same everywhere.
_UNPROCESSABLE = 422


class JobModel(BaseModel):
    """A job as the management routes return it.

    The fields are those of `monque.Job` of the same names. `data` is the
    stored payload as relaxed MongoDB Extended JSON: plain JSON values stay as
    they are, and BSON types such as `ObjectId` or dates become
    `{"$oid": ...}` or `{"$date": ...}`.
    """

    id: str
    name: str
    data: Any
    status: JobStatus
    next_run_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    fail_count: int
    fail_reason: str | None
    priority: int
    unique_key: str | None
    claimed_by: str | None
    repeat_interval: str | None
    timezone: str | None

    @classmethod
    def from_job(cls, job: Job) -> JobModel:
        """Build the model of a job."""
        data = json.loads(
            json_util.dumps(job.data, json_options=json_util.RELAXED_JSON_OPTIONS)
        )
        return cls(
            id=job.id,
            name=job.name,
            data=data,
            status=job.status,
            next_run_at=job.next_run_at,
            created_at=job.created_at,
            updated_at=job.updated_at,
            fail_count=job.fail_count,
            fail_reason=job.fail_reason,
            priority=job.priority,
            unique_key=job.unique_key,
            claimed_by=job.claimed_by,
            repeat_interval=job.repeat_interval,
            timezone=job.timezone,
        )


class JobListModel(BaseModel):
    """One page of a job listing.

    Attributes:
        jobs: The jobs of this page.
        next_cursor: Pass it as `cursor` for the next page; `null` on the last.
    """

    jobs: list[JobModel]
    next_cursor: str | None


class QueueStatsModel(BaseModel):
    """Job counts per status and the average processing time.

    Attributes:
        counts: Jobs per status; every status is present.
        total: All jobs counted.
        average_processing_time: Mean seconds from claim to completion of the
            completed jobs still stored, or `null` when there are none.
    """

    counts: dict[JobStatus, int]
    total: int
    average_processing_time: float | None


def management_router(
    *,
    auth: Callable[..., Any],
    prefix: str = "/jobs",
    tags: Sequence[str] | None = None,
    include_in_schema: bool = True,
) -> APIRouter:
    """Build a router that lists, inspects, retries and cancels jobs.

    Every route depends on `auth`, a FastAPI dependency of the app's own that
    raises (for example `HTTPException(401)`) when the caller may not manage
    jobs; there is no default, so the routes are never open by accident.

    - `GET {prefix}`: `Monque.get_jobs`, with the query parameters `name`,
      `status` (repeatable), `limit`, `cursor` and `newest_first`.
    - `GET {prefix}/stats`: `Monque.get_queue_stats`, optionally by `name`.
    - `GET {prefix}/{job_id}`: `Monque.get_job`.
    - `POST {prefix}/{job_id}/retry`: `Monque.retry_job`.
    - `POST {prefix}/{job_id}/cancel`: `Monque.cancel_job`.

    An unknown job answers 404, an action that does not apply to the job's
    status 409, and bad input (a malformed id, cursor or name) 422.

    ```python
    async def require_admin(token: str = Header()) -> None:
        if token != settings.admin_token:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED)


    app.include_router(management_router(auth=require_admin))
    ```

    Args:
        auth: The dependency that guards every route.
        prefix: The path the routes live under.
        tags: OpenAPI tags of the routes.
        include_in_schema: Whether the routes appear in the OpenAPI schema.

    Raises:
        TypeError: `auth` is not callable.
        ValueError: `prefix` does not start with `/` or ends with one.
    """
    if not callable(auth):
        raise TypeError(
            "auth must be a FastAPI dependency (a callable) that refuses callers "
            f"who may not manage jobs, not {type(auth).__name__}"
        )

    if not prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"prefix must start with '/' and not end with one: {prefix!r}")

    router = APIRouter(
        prefix=prefix,
        tags=list(tags or ["jobs"]),
        dependencies=[Depends(auth)],
        include_in_schema=include_in_schema,
    )

    @router.get("", response_model=JobListModel, summary="List jobs")
    async def list_jobs(
        monque: MonqueDep,
        name: str | None = None,
        job_status: Annotated[list[JobStatus] | None, Query(alias="status")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> JobListModel:
        with _http_errors():
            page = await monque.get_jobs(
                name=name,
                status=job_status or None,
                limit=limit,
                cursor=cursor,
                newest_first=newest_first,
            )

        return JobListModel(
            jobs=[JobModel.from_job(job) for job in page.jobs],
            next_cursor=page.next_cursor,
        )

    @router.get("/stats", response_model=QueueStatsModel, summary="Queue statistics")
    async def queue_stats(
        monque: MonqueDep, name: str | None = None
    ) -> QueueStatsModel:
        with _http_errors():
            stats = await monque.get_queue_stats(name=name)

        return QueueStatsModel(
            counts=dict(stats.counts),
            total=stats.total,
            average_processing_time=stats.average_processing_time,
        )

    @router.get("/{job_id}", response_model=JobModel, summary="Get a job")
    async def get_job(job_id: str, monque: MonqueDep) -> JobModel:
        with _http_errors():
            job = await monque.get_job(job_id)

        if job is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job with id {job_id!r}")

        return JobModel.from_job(job)

    @router.post("/{job_id}/retry", response_model=JobModel, summary="Retry a job")
    async def retry_job(job_id: str, monque: MonqueDep) -> JobModel:
        with _http_errors():
            job = await monque.retry_job(job_id)

        return JobModel.from_job(job)

    @router.post("/{job_id}/cancel", response_model=JobModel, summary="Cancel a job")
    async def cancel_job(job_id: str, monque: MonqueDep) -> JobModel:
        with _http_errors():
            job = await monque.cancel_job(job_id)

        return JobModel.from_job(job)

    return router


@contextlib.contextmanager
def _http_errors() -> Iterator[None]:
    """Turn monque's errors about the request into HTTP answers."""
    try:
        yield
    except JobNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except InvalidJobStateError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except (ValueError, TypeError) as exc:
        raise HTTPException(_UNPROCESSABLE, str(exc)) from exc
