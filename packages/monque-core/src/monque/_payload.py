"""Typed payloads: job data checked against a model such as a pydantic one.

Any class with pydantic's `model_validate` and `model_dump` methods can serve
as a model, so monque itself does not depend on pydantic.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ._errors import PayloadValidationError

__all__ = ["PayloadModel", "check_model", "dump_payload", "load_payload"]


@runtime_checkable
class PayloadModel(Protocol):
    """What monque needs of a payload model; every pydantic model has it."""

    def model_dump(self, *, mode: str = ...) -> Any:
        """Return the instance as plain data."""


def check_model(model: object) -> type[PayloadModel] | None:
    """Return `model` if it is `None` or a class with pydantic's model methods."""
    if model is None:
        return None

    if not (
        isinstance(model, type)
        and callable(getattr(model, "model_validate", None))
        and callable(getattr(model, "model_dump", None))
    ):
        raise TypeError(
            f"model must be a pydantic model class (with model_validate and "
            f"model_dump), not {model!r}"
        )

    return model


def _errors(exc: Exception) -> str:
    # pydantic's messages carry a documentation link per error; the first
    # lines say what is wrong.
    lines = str(exc).splitlines()
    return "; ".join(line.strip() for line in lines if "errors.pydantic" not in line)


def dump_payload(name: str, data: Any, model: type[PayloadModel] | None) -> Any:
    """Return what to store for `data`: validated by `model` and dumped as JSON data.

    Without a model, an instance of any model is dumped and other data passes
    through unchanged.

    Raises:
        PayloadValidationError: `data` does not fit `model`.
    """
    if model is None:
        if isinstance(data, PayloadModel) and not isinstance(data, type):
            return data.model_dump(mode="json")

        return data

    if not isinstance(data, model):
        try:
            data = model.model_validate(data)  # type: ignore[attr-defined]
        except (ValueError, TypeError) as exc:
            raise PayloadValidationError(
                f"data of job {name!r} does not fit {model.__name__}: {_errors(exc)}"
            ) from exc

    return data.model_dump(mode="json")


def load_payload(name: str, data: Any, model: type[PayloadModel]) -> Any:
    """Return stored `data` as an instance of `model`.

    Raises:
        PayloadValidationError: The stored data does not fit `model`; the job
            fails at once, without retries.
    """
    try:
        return model.model_validate(data)  # type: ignore[attr-defined]
    except (ValueError, TypeError) as exc:
        raise PayloadValidationError(
            f"stored data of job {name!r} does not fit {model.__name__}: {_errors(exc)}"
        ) from exc
