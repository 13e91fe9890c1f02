"""Developer tasks: ``nox -s tests``, ``lint``, ``typecheck``, ``docs``, ``changelog``,
``demo`` and ``bench``.

Every session installs what it needs into a fresh virtual environment, from the
dependency groups in the root pyproject.toml.
"""

from __future__ import annotations

import re
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "no"
nox.options.sessions = ["lint", "typecheck", "tests", "docs", "changelog"]

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PACKAGES = [
    path.parent
    for path in sorted((ROOT / "packages").glob("*/pyproject.toml"))
    if (path.parent / "src").is_dir()
]
FRAGMENT_TYPES = ("breaking", "deprecation", "feature", "bugfix", "doc", "misc")
# <name>.<type>.md or <name>.<type>.<counter>.md; "+name" is an orphan fragment.
FRAGMENT_NAME = re.compile(r"^(?P<name>[^.]+)\.(?P<type>[^.]+)(?:\.\d+)?\.md$")


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _install(session: nox.Session, *groups: str, packages: bool = True) -> None:
    requirements = {
        requirement
        for group in groups
        for requirement in nox.project.dependency_groups(PYPROJECT, group)
    }
    editables = [arg for path in PACKAGES for arg in ("-e", _relative(path))]
    session.install(*sorted(requirements), *(editables if packages else []))


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suites of every package and of the tools, with coverage."""
    _install(session, "test")
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    # Both exit with 1 when there is no data, as after a run of only the tool
    # tests; the report is for reading and sets no minimum.
    session.run("coverage", "combine", "--quiet", success_codes=[0, 1])
    session.run("coverage", "report", success_codes=[0, 1])


@nox.session
def demo(session: nox.Session) -> None:
    """Run the demo: a producer-only API node and a worker process on one queue."""
    _install(session, "test")
    session.install("-r", "apps/demo/requirements.txt")
    session.run("python", "apps/demo/run_demo.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Measure throughput, latency and database commands per job (not a test)."""
    _install(session, "test")
    session.run("python", "apps/bench/bench.py", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check the style of every Python file in the repository."""
    _install(session, "lint", packages=False)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Run mypy in strict mode over the package sources, tests and test tools."""
    _install(session, "typecheck")
    sources = [_relative(path / "src") for path in PACKAGES]
    session.run("mypy", *sources)
    # Each test tree is checked on its own: test modules are not packages, so two
    # trees may hold modules of the same name (conftest, test_api, ...).
    for path in PACKAGES:
        if (path / "tests").is_dir():
            session.run("mypy", _relative(path / "tests"))

    session.run("mypy", "conftest.py", "tools")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site, failing on any warning."""
    _install(session, "docs")
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "-f",
        "apps/docs/mkdocs.yml",
        env={"NO_MKDOCS_2_WARNING": "1"},
    )


@nox.session
def changelog(session: nox.Session) -> None:
    """Check the news fragments and print each package's draft release notes."""
    _install(session, "changelog", packages=False)
    fragment_dirs = sorted(p for p in (ROOT / "changes").iterdir() if p.is_dir())
    unknown = [
        _relative(fragment)
        for directory in fragment_dirs
        for fragment in sorted(directory.iterdir())
        if fragment.name != "towncrier.toml" and not _is_fragment(fragment.name)
    ]
    if unknown:
        session.error(
            f"not a news fragment: {', '.join(unknown)}; name one "
            f"<issue or +name>.<type>.md with a type in {', '.join(FRAGMENT_TYPES)}"
        )

    for directory in fragment_dirs:
        config = directory / "towncrier.toml"
        if not config.is_file():
            session.error(f"{_relative(directory)} has no towncrier.toml")

        package = ROOT / "packages" / directory.name / "pyproject.toml"
        if not package.is_file():
            session.warn(f"skipping {_relative(directory)}: no package to release")
            continue

        version = nox.project.load_toml(package)["project"]["version"]
        session.run(
            "towncrier",
            "build",
            "--draft",
            "--config",
            _relative(config),
            "--version",
            version,
        )


def _is_fragment(name: str) -> bool:
    match = FRAGMENT_NAME.match(name)
    return match is not None and match["type"] in FRAGMENT_TYPES
