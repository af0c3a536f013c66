"""The Done-when of issue 10: every runtime verb from an installed WHEEL.

Once per session the checkout is built into a wheel (from a copy of its
sources, so the working tree gets no ``build/``), installed with its
runtime dependencies only (no dev extra: no jinja2, no pyyaml, no codegen)
into a fresh virtualenv without system site-packages, and the
``synthorg-persistence`` console script of that virtualenv runs migrate,
status, history and drift against a temp SQLite file and the test
PostgreSQL, from a folder outside the checkout. Building and installing
use pip's ordinary index (and its cache); about 20 s in all.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import psycopg
import pytest

from synthorg.persistence.migrations import load_revisions
from tests.support.pgserver import PgServer

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Installed:
    """A fresh virtualenv holding only the wheel and its runtime deps."""

    venv: Path
    work: Path

    @property
    def script(self) -> Path:
        return self.venv / "bin" / "synthorg-persistence"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.script), *args],
            cwd=self.work,
            env={**_clean_env(), **(env or {})},
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )


def _clean_env() -> dict[str, str]:
    """The environment without the test session's paths and settings."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SYNTHORG_", "PYTHON", "VIRTUAL_ENV"))
    }


def _pip(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, f"pip {' '.join(args)}:\n{result.stderr[-3000:]}"


def _pins() -> list[str]:
    """The runtime requirements, pinned to this session's installed versions."""
    names = ["pydantic", "aiosqlite", "psycopg", "psycopg-binary", "psycopg-pool"]
    return [f"{name}=={metadata.version(name)}" for name in names]


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    # A copy (symlinks followed: generated/ is a link in the checkout).
    shutil.copytree(
        ROOT / "src",
        source / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    dist = base / "dist"
    _pip("wheel", "--no-deps", "-q", "-w", str(dist), str(source))
    (wheel,) = dist.glob("synthorg_persistence-*.whl")
    venv = base / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)],
        check=True,
        timeout=120,
    )
    _pip(
        "--python", str(venv / "bin" / "python"), "install", "-q", str(wheel), *_pins()
    )
    work = base / "work"
    work.mkdir()
    yield Installed(venv, work)


def test_the_wheel_is_installed_without_the_dev_extra(installed: Installed) -> None:
    probe = (
        "import importlib.util as u, synthorg.persistence as p; "
        "print(p.__file__); "
        "print([m for m in ('jinja2', 'yaml', 'codegen') if u.find_spec(m)])"
    )
    result = subprocess.run(
        [str(installed.python), "-c", probe],
        cwd=installed.work,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    where, missing = result.stdout.splitlines()
    assert where.startswith(str(installed.venv)), where  # not the checkout
    assert missing == "[]"
    # `python -m synthorg.persistence` is the same tool.
    result = subprocess.run(
        [str(installed.python), "-m", "synthorg.persistence", "--help"],
        cwd=installed.work,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0
    assert "usage: synthorg-persistence" in result.stdout


def _runtime_verbs(installed: Installed, kind: str, target: list[str]) -> None:
    names = [
        r.name for r in load_revisions("sqlite" if kind == "sqlite" else "postgres")
    ]
    status = installed.run("status", *target)
    assert status.returncode == 1, status.stderr
    assert f"0 applied, {len(names)} pending" in status.stdout

    migrate = installed.run("migrate", *target)
    assert migrate.returncode == 0, migrate.stderr
    applied = [
        line.split()[1]
        for line in migrate.stdout.splitlines()
        if line.startswith("  applied ")
    ]
    assert applied == names

    status = installed.run("status", *target)
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[-1] == "up to date"

    history = installed.run("history", *target)
    assert history.returncode == 0, history.stderr
    assert [line.split()[0] for line in history.stdout.splitlines()[1:-1]] == names

    drift = installed.run("drift", *target)
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert "no drift" in drift.stdout


def test_runtime_verbs_from_the_wheel_on_sqlite(installed: Installed) -> None:
    path = installed.work / "wheel.db"
    missing = installed.run("status", "--sqlite", str(path))
    assert missing.returncode == 3  # status creates no database
    assert "no SQLite database at" in missing.stderr
    sqlite3.connect(path).close()
    path.chmod(0o600)
    _runtime_verbs(installed, "sqlite", ["--sqlite", str(path)])
    with sqlite3.connect(path) as conn:
        conn.execute('ALTER TABLE "heartbeats" ADD COLUMN "extra" TEXT')
    drift = installed.run("drift", env={"SYNTHORG_SQLITE_PATH": str(path)})
    assert drift.returncode == 1
    assert "    unexpected columns 'extra'" in drift.stdout


def test_runtime_verbs_from_the_wheel_on_postgres(
    installed: Installed, pg_server: PgServer, pg_database: str
) -> None:
    dsn = pg_server.dsn(pg_database)
    _runtime_verbs(installed, "postgres", ["--dsn", dsn])
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute('ALTER TABLE "heartbeats" ADD COLUMN "extra" TEXT')
    secret = installed.work / "pg-password"
    secret.write_text(pg_server.password + "\n", encoding="utf-8")
    env = {
        "SYNTHORG_DB_DSN": (
            f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/"
            f"{pg_database}"
        ),
        "SYNTHORG_PG_PASSWORD_FILE": str(secret),
    }
    drift = installed.run("drift", env=env)
    assert drift.returncode == 1, drift.stderr
    assert "    unexpected columns 'extra'" in drift.stdout
    assert pg_server.password not in drift.stdout + drift.stderr


def test_diagram_from_the_wheel(installed: Installed) -> None:
    """The ER diagram ships in the wheel: no database, no generator needed."""
    from synthorg.persistence.generated.diagram import MERMAID

    shown = installed.run("diagram")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == MERMAID
    assert shown.stdout.startswith("erDiagram")


def test_schema_verbs_outside_a_checkout_say_what_they_need(
    installed: Installed,
) -> None:
    for verb in ("generate", "check", "schema-json", "renumber"):
        result = installed.run(verb)
        assert result.returncode == 3
        assert "need a source checkout" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
