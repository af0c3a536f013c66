"""Goldens must run, not only match.

For every golden case the freshly rendered tree is exercised: its DDL and
its migration revisions (in order) are applied to a live SQLite database and
a live PostgreSQL database and must create exactly the tables and indexes
that the rendered ``migrations/state.json`` declares; every rendered ``.py``
compiles; and the rendered modules import (under their real
``synthorg.persistence.generated.*`` names, patched into ``sys.modules`` for
the test only) so each case's model validates a sample. mypy --strict over
the committed ``generated/`` runs in ``make check``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sqlite3
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
from pydantic import BaseModel, ValidationError

from codegen.pipeline import render_schema
from tests.codegen._support import CASES, case_names, write_tree
from tests.support.pgserver import PgServer

GEN = "synthorg.persistence.generated"
CASE_NAMES = case_names(CASES)

# case -> (entity module, model class, sample data, fields expected after
# validation). Defaults are asserted so a lost default shows up here too.
SAMPLES: dict[str, tuple[str, str, dict[str, Any], dict[str, Any]]] = {
    "minimal": ("notes", "Note", {"id": "n1"}, {"body": "", "pinned": False}),
    "filtered": (
        "jobs",
        "Job",
        {"id": "j1", "queue_name": "default", "labels": ["a", "b"]},
        {"state": "queued", "attempts": 0, "labels": ("a", "b"), "payload": {}},
    ),
    "composite_key": (
        "settings",
        "SettingRow",
        {"namespace": "ns", "key": "k", "value": "v"},
        {"version": 1},
    ),
    # One case per method kind (named after it).
    "lookup": ("accounts", "Account", {"id": "a1", "email": "a@b.c"}, {}),
    "first": (
        "readings",
        "Reading",
        {"id": "r1", "sensor_id": "s1", "taken_at": "2024-01-01T00:00:00Z"},
        {},
    ),
    "list": (
        "tickets",
        "Ticket",
        {"id": "t1", "opened_at": "2024-01-01T00:00:00Z"},
        {"closed": False},
    ),
    "count": (
        "attempts",
        "Attempt",
        {"id": "a1", "username": "u", "made_at": "2024-01-01T00:00:00Z"},
        {},
    ),
    "keyset": ("events", "Event", {"id": "e1"}, {"body": ""}),
    "delete": ("sessions", "Session", {"id": "s1", "username": "u"}, {}),
    "update": (
        "alerts",
        "Alert",
        {"id": "a1"},
        {"acknowledged": False, "acknowledged_at": None},
    ),
    "insert": ("invoices", "Invoice", {"id": "i1", "amount": 1.5}, {}),
    "update_entity": ("documents", "Document", {"id": "d1", "title": "t"}, {}),
    "upsert": ("tokens", "Token", {"name": "n", "value": "v"}, {}),
    "upsert_outcome": ("files", "StoredFile", {"id": "f1"}, {"size": 0}),
    "compare_and_set": (
        "configs",
        "Config",
        {"name": "c", "body": "b"},
        {"revision": 1},
    ),
    "aggregate": (
        "charges",
        "Charge",
        {"id": "c1", "account_id": "a", "amount": 2.0},
        {"currency": "USD"},
    ),
    "increment": ("budgets", "Budget", {"id": "b1"}, {"total": 0.0, "currency": "USD"}),
    "versioned_append": (
        "revisions",
        "Revision",
        {"id": "r1", "page_id": "p"},
        {"version": 1},
    ),
    "custom": (
        "oauth_states",
        "OAuthState",
        {"state_token": "s"},
        {"expires_at": None, "consumed_at": None},
    ),
}


def _case_sample(case: str) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """The case's sample: above, or its own ``cases/<case>/sample.json``.

    A new case (e.g. one per method kind) brings its sample in its folder,
    ``{"module", "class", "data", "expected"}``, so adding it touches no
    test file.
    """
    if case in SAMPLES:
        return SAMPLES[case]
    path = CASES / case / "sample.json"
    assert path.is_file(), f"{case}: no sample; add cases/{case}/sample.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    return raw["module"], raw["class"], raw["data"], raw["expected"]


@functools.cache
def _rendered(case: str) -> dict[str, str]:
    # Rendered against an empty folder, like the golden test: no history.
    with tempfile.TemporaryDirectory(prefix="golden-") as empty:
        return render_schema(CASES / case / "schema", Path(empty))


def _expected_objects(case: str, dialect: str) -> tuple[set[str], set[str]]:
    """(table names, index names) the rendered migration state declares."""
    state = json.loads(_rendered(case)["migrations/state.json"])
    tables = state["tables"]
    indexes = {
        name
        for spec in tables.values()
        for name in spec["rendered"][dialect]["indexes"]
    }
    assert tables, f"{case}: the migration state declares no {dialect} tables"
    return set(tables), indexes


def _scripts(case: str, dialect: str) -> dict[str, list[str]]:
    """The DDL script, and the migration revisions in order, of a dialect."""
    files = _rendered(case)
    prefix = f"migrations/{dialect}/"
    revisions = sorted(path for path in files if path.startswith(prefix))
    assert revisions, f"{case}: no {dialect} migration revisions rendered"
    return {
        "ddl": [files[f"ddl/{dialect}.sql"]],
        "migrations": [files[path] for path in revisions],
    }


# ----------------------------------------------------------------- SQLite


@pytest.mark.parametrize("source", ["ddl", "migrations"])
@pytest.mark.parametrize("case", CASE_NAMES)
def test_sqlite_applies(case: str, source: str, tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "case.db")
    try:
        for script in _scripts(case, "sqlite")[source]:
            conn.executescript(script)
        rows = conn.execute(
            "SELECT type, name FROM sqlite_master "
            "WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    finally:
        conn.close()
    tables, indexes = _expected_objects(case, "sqlite")
    assert {name for kind, name in rows if kind == "table"} == tables
    assert {name for kind, name in rows if kind == "index"} == indexes


# ------------------------------------------------------------- PostgreSQL


@pytest.mark.parametrize("source", ["ddl", "migrations"])
@pytest.mark.parametrize("case", CASE_NAMES)
def test_postgres_applies(
    case: str, source: str, pg_server: PgServer, pg_database: str
) -> None:
    with psycopg.connect(pg_server.dsn(pg_database), autocommit=True) as conn:
        for script in _scripts(case, "postgres")[source]:
            conn.execute(script)  # a multi-statement script, no parameters
        table_rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        index_rows = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall()
    tables, indexes = _expected_objects(case, "postgres")
    assert {row[0] for row in table_rows} == tables
    # PostgreSQL also lists the index behind each primary key constraint.
    assert {row[0] for row in index_rows} == indexes | {f"pk_{t}" for t in tables}


# ----------------------------------------------------------------- Python


@pytest.mark.parametrize("case", CASE_NAMES)
def test_python_compiles(case: str) -> None:
    for path, text in _rendered(case).items():
        if path.endswith(".py"):
            compile(text, f"{case}/{path}", "exec")


def _load(name: str, path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Execute ``path`` as module ``name``, registered only for this test."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def _import_tree(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, ModuleType]:
    """Import every rendered module in dependency order; keyed by tree path."""
    entity_files = sorted(
        p.name
        for p in root.glob("*.py")
        if p.name
        not in {
            "__init__.py",
            "enums.py",
            "models.py",
            "repositories.py",
            "manifest.py",
            "diagram.py",
        }
    )
    order = [
        "enums.py",
        "models.py",
        *entity_files,
        "repositories.py",
        "manifest.py",
        "diagram.py",
        *(f"{d}/{f}" for d in ("sqlite", "postgres") for f in entity_files),
    ]
    modules: dict[str, ModuleType] = {}
    for rel in order:
        name = f"{GEN}.{rel.removesuffix('.py').replace('/', '.')}"
        modules[rel] = _load(name, root / rel, monkeypatch)
    # Package __init__ files re-export the modules above; load them under
    # private names so the real packages stay untouched.
    for rel in ("sqlite/__init__.py", "postgres/__init__.py", "__init__.py"):
        private = "_golden_" + rel.replace("/", "_").removesuffix(".py")
        modules[rel] = _load(private, root / rel, monkeypatch)
    return modules


@pytest.mark.parametrize("case", CASE_NAMES)
def test_python_imports_and_validates(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path / "tree", _rendered(case))
    modules = _import_tree(tmp_path / "tree", monkeypatch)

    module_name, class_name, data, expected = _case_sample(case)
    model = getattr(modules[f"{module_name}.py"], class_name)
    assert issubclass(model, BaseModel)
    instance = model.model_validate(data)
    for field, value in expected.items():
        assert getattr(instance, field) == value, field
    # Keys are NotBlankStr: an empty key is refused by the model itself.
    key_field = next(iter(data))
    with pytest.raises(ValidationError):
        model.model_validate({**data, key_field: ""})
    # The package re-exports the model and the manifest describes it.
    assert getattr(modules["__init__.py"], class_name) is model
    manifest = modules["manifest.py"].ENTITIES
    assert [info.model for info in manifest] == [model]


def test_every_case_has_a_sample() -> None:
    for case in CASE_NAMES:
        _case_sample(case)
