"""`MonqueSettings`: environment variables, defaults and checks."""

from __future__ import annotations

import inspect

import pytest
from pydantic import ValidationError

from monque import Monque
from monque_fastapi import MonqueSettings


def test_defaults_match_the_core() -> None:
    settings = MonqueSettings()
    parameters = inspect.signature(Monque).parameters

    assert settings.disable_job_processing is False
    assert settings.mongodb_uri == "mongodb://localhost:27017"
    for name, value in settings.monque_options().items():
        assert name in parameters, name
        if name != "instance_id":
            assert parameters[name].default == value, name


def test_every_core_option_is_a_setting() -> None:
    options = set(inspect.signature(Monque).parameters) - {"db"}

    missing = options - set(MonqueSettings().monque_options())

    assert not missing, f"MonqueSettings lacks the core options {sorted(missing)}"


def test_fields_are_read_from_monque_prefixed_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONQUE_MONGODB_URI", "mongodb://db.internal:27017")
    monkeypatch.setenv("MONQUE_DATABASE", "shop")
    monkeypatch.setenv("MONQUE_MAX_CONCURRENCY", "4")
    monkeypatch.setenv("MONQUE_POLL_INTERVAL", "0.25")
    monkeypatch.setenv("MONQUE_DISABLE_JOB_PROCESSING", "true")
    monkeypatch.setenv("MONQUE_WORKER_CONCURRENCY", "")

    settings = MonqueSettings()

    assert settings.mongodb_uri == "mongodb://db.internal:27017"
    assert settings.database == "shop"
    assert settings.max_concurrency == 4
    assert settings.poll_interval == 0.25
    assert settings.disable_job_processing is True
    assert settings.worker_concurrency == 5  # empty means the default


def test_monque_options_build_a_scheduler() -> None:
    settings = MonqueSettings(max_concurrency=3, poll_interval=0.5)

    options = settings.monque_options()

    assert options["max_concurrency"] == 3
    assert options["poll_interval"] == 0.5
    assert "mongodb_uri" not in options
    assert "disable_job_processing" not in options


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MONQUE_MAX_CONCURRENCY", "0"),
        ("MONQUE_WORKER_CONCURRENCY", "-1"),
        ("MONQUE_POLL_INTERVAL", "0"),
        ("MONQUE_DISABLE_JOB_PROCESSING", "maybe"),
    ],
)
def test_bad_values_are_rejected_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError, match=variable.removeprefix("MONQUE_").lower()):
        MonqueSettings()


def test_disable_job_processing_is_documented_for_producer_nodes() -> None:
    field = MonqueSettings.model_fields["disable_job_processing"]
    assert field.description is not None
    description = " ".join(field.description.split())

    assert "can enqueue and manage jobs through `MonqueDep`" in description
    assert "registers no workers and starts no polling" in description
    assert "producer-only nodes such as APIs" in description


def test_the_uri_is_kept_out_of_the_repr() -> None:
    settings = MonqueSettings(mongodb_uri="mongodb://user:secret@db:27017")

    assert "secret" not in repr(settings)
