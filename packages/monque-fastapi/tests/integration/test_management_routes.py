"""The management router: list, inspect, retry and cancel jobs over HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from bson import ObjectId
from fastapi import FastAPI, Header, HTTPException
from pymongo.asynchronous.database import AsyncDatabase

from monque import Monque
from monque_fastapi import MonqueSettings, management_router

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

SettingsFactory = Callable[..., MonqueSettings]
AppFactory = Callable[..., FastAPI]
Running = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]
MonqueOf = Callable[[FastAPI], Monque]

ADMIN = {"x-admin-token": "secret"}


async def require_admin(x_admin_token: str | None = Header(default=None)) -> None:
    if x_admin_token != "secret":
        raise HTTPException(401, "admin token required")


@pytest.fixture
def app(
    database: AsyncDatabase[Any], make_settings: SettingsFactory, make_app: AppFactory
) -> FastAPI:
    # A producer-only node: jobs stay where the test puts them.
    app = make_app(make_settings(disable_job_processing=True), db=database)
    app.include_router(management_router(auth=require_admin, prefix="/admin/jobs"))
    return app


async def test_every_route_requires_the_apps_auth(
    app: FastAPI, running: Running, monque_of: MonqueOf
) -> None:
    async with running(app) as client:
        job = await monque_of(app).enqueue("email.send", {"to": "ada"})
        calls = [
            client.get("/admin/jobs"),
            client.get("/admin/jobs/stats"),
            client.get(f"/admin/jobs/{job.id}"),
            client.post(f"/admin/jobs/{job.id}/retry"),
            client.post(f"/admin/jobs/{job.id}/cancel"),
        ]
        for call in calls:
            response = await call
            assert response.status_code == 401, response.request.url

        stored = await monque_of(app).get_job(job.id)

    assert stored is not None
    assert stored.status == "pending"


async def test_list_filter_and_page_through_jobs(
    app: FastAPI, running: Running, monque_of: MonqueOf
) -> None:
    async with running(app) as client:
        monque = monque_of(app)
        sent = [await monque.enqueue("email.send", {"n": n}) for n in range(5)]
        await monque.enqueue("report.build", {"ref": ObjectId()})

        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"name": "email.send", "limit": 2}
            if cursor is not None:
                params["cursor"] = cursor

            response = await client.get("/admin/jobs", params=params, headers=ADMIN)
            assert response.status_code == 200
            body = response.json()
            seen += [job["id"] for job in body["jobs"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break

        assert seen == [job.id for job in sent]

        response = await client.get(
            "/admin/jobs", params={"name": "report.build"}, headers=ADMIN
        )
        [report] = response.json()["jobs"]
        # BSON types come out as relaxed Extended JSON.
        assert set(report["data"]["ref"]) == {"$oid"}

        response = await client.get(
            "/admin/jobs", params={"status": ["failed", "cancelled"]}, headers=ADMIN
        )
        assert response.json() == {"jobs": [], "next_cursor": None}


async def test_get_cancel_and_retry_one_job(
    app: FastAPI, running: Running, monque_of: MonqueOf
) -> None:
    async with running(app) as client:
        job = await monque_of(app).enqueue("email.send", {"to": "ada"})

        response = await client.get(f"/admin/jobs/{job.id}", headers=ADMIN)
        assert response.status_code == 200
        assert response.json()["status"] == "pending"
        assert response.json()["data"] == {"to": "ada"}

        response = await client.post(f"/admin/jobs/{job.id}/cancel", headers=ADMIN)
        assert response.status_code == 200
        assert response.json()["status"] == "cancelled"

        response = await client.post(f"/admin/jobs/{job.id}/cancel", headers=ADMIN)
        assert response.status_code == 409
        assert "cancelled" in response.json()["detail"]

        response = await client.post(f"/admin/jobs/{job.id}/retry", headers=ADMIN)
        assert response.status_code == 200
        assert response.json()["status"] == "pending"

        stored = await monque_of(app).get_job(job.id)

    assert stored is not None
    assert stored.status == "pending"


async def test_stats_count_jobs_per_status(
    app: FastAPI, running: Running, monque_of: MonqueOf
) -> None:
    async with running(app) as client:
        monque = monque_of(app)
        jobs = [await monque.enqueue("email.send", {"n": n}) for n in range(3)]
        await monque.enqueue("report.build")
        await monque.cancel_job(jobs[0].id)

        response = await client.get("/admin/jobs/stats", headers=ADMIN)
        by_name = await client.get(
            "/admin/jobs/stats", params={"name": "report.build"}, headers=ADMIN
        )

    assert response.status_code == 200
    body = response.json()
    assert body["counts"] == {
        "pending": 3,
        "processing": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 1,
    }
    assert body["total"] == 4
    assert body["average_processing_time"] is None
    assert by_name.json()["total"] == 1


async def test_unknown_and_malformed_ids_and_bad_input(
    app: FastAPI, running: Running
) -> None:
    async with running(app) as client:
        missing = str(ObjectId())
        assert (
            await client.get(f"/admin/jobs/{missing}", headers=ADMIN)
        ).status_code == 404
        response = await client.post(f"/admin/jobs/{missing}/retry", headers=ADMIN)
        assert response.status_code == 404
        assert missing in response.json()["detail"]

        response = await client.get("/admin/jobs/not-an-id", headers=ADMIN)
        assert response.status_code == 422

        response = await client.get(
            "/admin/jobs", params={"cursor": "garbage"}, headers=ADMIN
        )
        assert response.status_code == 422
        assert "cursor" in response.json()["detail"]

        response = await client.get(
            "/admin/jobs", params={"status": "sleeping"}, headers=ADMIN
        )
        assert response.status_code == 422

        response = await client.get("/admin/jobs", params={"limit": 0}, headers=ADMIN)
        assert response.status_code == 422


def test_the_router_refuses_to_be_built_without_auth() -> None:
    with pytest.raises(TypeError, match="auth"):
        management_router(auth=None)  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="prefix"):
        management_router(auth=require_admin, prefix="jobs")
