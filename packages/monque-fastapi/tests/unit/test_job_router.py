"""`JobRouter`: names, duplicates, cron declarations and handler signatures."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Header, Request

from monque import DuplicateHandlerError, Job
from monque_fastapi import JobRouter, MonqueDep, MonqueSettings, monque_lifespan
from monque_fastapi._lifespan import collect_jobs


def get_value() -> int:
    return 1


def get_app_title(request: Request) -> str:
    return request.app.title  # type: ignore[no-any-return]


def get_user_agent(user_agent: Annotated[str, Header()]) -> str:
    return user_agent


def test_job_names_get_the_prefix() -> None:
    email = JobRouter(prefix="email")

    @email.job("send", concurrency=2, max_retries=3, timeout=10)
    async def send(job: Job) -> None:
        pass

    (definition,) = email.jobs
    assert definition.name == "email.send"
    assert (definition.concurrency, definition.max_retries, definition.timeout) == (
        2,
        3,
        10,
    )
    assert definition.cron is None
    assert definition.handler.func is send


def test_an_empty_prefix_keeps_names() -> None:
    router = JobRouter()

    @router.job("cleanup")
    async def cleanup(job: Job) -> None:
        pass

    assert [d.name for d in router.jobs] == ["cleanup"]


@pytest.mark.parametrize("prefix", [".email", "email.", " email"])
def test_bad_prefixes_are_rejected(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        JobRouter(prefix=prefix)


def test_an_empty_job_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="job name"):
        JobRouter(prefix="email").job("")


def test_a_name_declared_twice_on_one_router_is_rejected() -> None:
    email = JobRouter(prefix="email")

    @email.job("send")
    async def send(job: Job) -> None:
        pass

    with pytest.raises(DuplicateHandlerError, match=r"email\.send"):

        @email.job("send")
        async def send_again(job: Job) -> None:
            pass


def test_names_declared_by_two_routers_are_rejected() -> None:
    first, second = JobRouter(prefix="email"), JobRouter(prefix="email")
    first.job("send")(get_value)
    second.job("send")(get_value)

    with pytest.raises(DuplicateHandlerError, match="two job routers"):
        collect_jobs([first, second])


def test_cron_defaults_to_the_function_name_and_utc() -> None:
    reports = JobRouter(prefix="reports")

    @reports.cron("0 * * * *")
    async def hourly_digest(job: Job) -> None:
        pass

    (definition,) = reports.jobs
    assert definition.name == "reports.hourly_digest"
    assert definition.cron is not None
    assert definition.cron.expression == "0 * * * *"
    assert definition.cron.timezone == "UTC"
    assert definition.cron.unique_key is None
    assert definition.cron.data is None


def test_an_empty_cron_expression_is_rejected() -> None:
    with pytest.raises(ValueError, match="cron expression"):
        JobRouter(prefix="reports").cron(" ")


def test_the_job_parameter_is_found_by_type_or_by_name() -> None:
    router = JobRouter()

    @router.job("typed")
    async def typed(current: Job, value: Annotated[int, Depends(get_value)]) -> None:
        pass

    @router.job("annotated")
    async def annotated(current: Annotated[Job, "the job"]) -> None:
        pass

    @router.job("named")
    async def named(job, monque: MonqueDep) -> None:  # type: ignore[no-untyped-def]
        pass

    @router.job("none")
    async def no_job(value: Annotated[int, Depends(get_value)]) -> None:
        pass

    params = {d.name: d.handler.job_param for d in router.jobs}
    assert params == {
        "typed": "current",
        "annotated": "current",
        "named": "job",
        "none": None,
    }


def test_a_parameter_that_is_not_a_dependency_is_rejected() -> None:
    router = JobRouter(prefix="email")

    with pytest.raises(TypeError, match=r"'email\.send' cannot take to"):

        @router.job("send")
        async def send(job: Job, to: str) -> None:
            pass


def test_a_dependency_that_reads_the_request_is_rejected() -> None:
    router = JobRouter(prefix="email")

    with pytest.raises(TypeError, match="user_agent"):

        @router.job("send")
        async def send(
            job: Job, agent: Annotated[str, Depends(get_user_agent)]
        ) -> None:
            pass


def test_dependencies_may_read_the_app_through_the_request() -> None:
    router = JobRouter()

    @router.job("titled")
    async def titled(job: Job, title: Annotated[str, Depends(get_app_title)]) -> None:
        pass

    (definition,) = router.jobs
    assert definition.handler.job_param == "job"


def test_two_job_parameters_are_rejected() -> None:
    with pytest.raises(TypeError, match="more than one Job"):
        JobRouter().job("x")(_two_jobs)


def _two_jobs(first: Job, second: Job) -> None:
    pass


def test_monque_lifespan_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="MonqueSettings"):
        monque_lifespan({"database": "x"})  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="JobRouter"):
        monque_lifespan(MonqueSettings(), FastAPI())  # type: ignore[arg-type]


def test_decorators_return_the_function_unchanged() -> None:
    router = JobRouter()

    def handler(job: Job) -> Any:
        return job.data

    assert router.job("a")(handler) is handler
    assert router.cron("@hourly", name="b")(handler) is handler
