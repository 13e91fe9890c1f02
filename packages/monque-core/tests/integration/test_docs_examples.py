"""The documentation's examples run against the test server, so they cannot rot."""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from pymongo.asynchronous.database import AsyncDatabase

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[4] / "apps" / "docs" / "examples"
Main = Callable[[AsyncDatabase[dict[str, Any]]], Awaitable[None]]


def _load(path: Path) -> Main:
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return cast(Main, module.main)


@pytest.mark.parametrize(
    "path", sorted(EXAMPLES.glob("*.py")), ids=lambda path: path.stem
)
async def test_example_runs(
    path: Path,
    database: AsyncDatabase[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _load(path)(database)

    assert capsys.readouterr().out


def test_every_example_is_included_in_a_page() -> None:
    pages = EXAMPLES.parent / "docs"
    text = "".join(page.read_text() for page in pages.rglob("*.md"))

    for path in EXAMPLES.glob("*.py"):
        assert f"apps/docs/examples/{path.name}" in text, path.name
