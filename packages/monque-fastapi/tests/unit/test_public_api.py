"""The public surface of `monque_fastapi`."""

from __future__ import annotations

import inspect
import typing

import monque_fastapi

PUBLIC_NAMES = {
    "AppLifespan",
    "CronSchedule",
    "DatabaseSource",
    "JobDefinition",
    "JobListModel",
    "JobModel",
    "JobRouter",
    "MonqueDep",
    "MonqueHealth",
    "MonqueSettings",
    "QueueStatsModel",
    "get_monque",
    "health_router",
    "management_router",
    "monque_lifespan",
}


def test_all_lists_exactly_the_public_names_sorted() -> None:
    assert set(monque_fastapi.__all__) == PUBLIC_NAMES
    assert monque_fastapi.__all__ == sorted(monque_fastapi.__all__)


def test_every_public_name_is_exported() -> None:
    for name in monque_fastapi.__all__:
        assert hasattr(monque_fastapi, name), name


def test_public_classes_and_functions_are_documented() -> None:
    for name in monque_fastapi.__all__:
        obj = getattr(monque_fastapi, name)
        # Type aliases such as AppLifespan carry no docstring of their own (and
        # pass for classes on Python 3.10); the API reference documents them.
        if typing.get_origin(obj) is not None:
            continue

        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), name


def test_modules_are_private() -> None:
    public_modules = [
        name
        for name, value in vars(monque_fastapi).items()
        if inspect.ismodule(value) and not name.startswith("_")
    ]
    assert public_modules == []
