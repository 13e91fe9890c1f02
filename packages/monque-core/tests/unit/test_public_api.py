"""The package root exports exactly its documented, sorted public surface."""

from __future__ import annotations

import monque


def test_all_is_sorted_and_complete() -> None:
    assert monque.__all__ == sorted(monque.__all__)
    for name in monque.__all__:
        assert getattr(monque, name) is not None


def test_public_names_do_not_leak_private_modules() -> None:
    public = {name for name in dir(monque) if not name.startswith("_")}

    assert public - set(monque.__all__) <= {"annotations"}


def test_every_error_derives_from_the_root() -> None:
    errors = [
        getattr(monque, name) for name in monque.__all__ if name.endswith("Error")
    ]

    assert errors
    for error in errors:
        assert issubclass(error, monque.MonqueError)

    assert issubclass(monque.RetryAfter, monque.MonqueError)
