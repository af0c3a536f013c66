"""A dialect added after the migration history began joins it on its own.

Its first revision creates every table as the schema declares it now; the
revisions and recorded state of the dialects already in the history are
left exactly as they were (their next revision says there is nothing to
change), and the history stays consistent for ``generate`` and ``check``.
A third dialect is registered for the test only (a renamed PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from codegen.build import build
from codegen.dialects import DIALECTS
from codegen.dialects.postgres import Postgres
from codegen.migrations import History, history_problems, plan
from codegen.spec import load_schema
from tests.codegen._support import CASES

CASE = CASES / "minimal"


class Third(Postgres):
    name = "third"
    title = "Third"
    class_prefix = "Third"


@pytest.fixture
def third() -> Iterator[None]:
    DIALECTS["third"] = Third()
    try:
        yield
    finally:
        del DIALECTS["third"]


def _history(files: dict[str, str]) -> History:
    revisions = {p: t for p, t in files.items() if p.endswith(".sql")}
    problems, state = history_problems(revisions, files["migrations/state.json"])
    assert problems == []
    return History(revisions=revisions, state=state)


def _expected() -> dict[str, str]:
    root = CASE / "expected"
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted((root / "migrations").rglob("*"))
        if p.is_file()
    }


def test_two_dialects_plan_nothing_new() -> None:
    before = _expected()
    files = plan(build(load_schema(CASE / "schema")), _history(before))
    assert files == before


def test_a_third_dialect_joins_with_its_own_first_revision(third: None) -> None:
    before = _expected()
    schema = build(load_schema(CASE / "schema"))
    files = plan(schema, _history(before))
    added = sorted(set(files) - set(before))
    assert added == [
        "migrations/postgres/0002_join_third.sql",
        "migrations/sqlite/0002_join_third.sql",
        "migrations/third/0002_join_third.sql",
    ]
    for path, text in before.items():  # old revisions are inputs, unchanged
        if path.endswith(".sql"):
            assert files[path] == text
    assert "Nothing to change on sqlite" in files[added[1]]
    assert "Nothing to change on postgres" in files[added[0]]
    joined = files["migrations/third/0002_join_third.sql"]
    first = before["migrations/postgres/0001_initial.sql"]
    assert joined.split("\n", 2)[2] == first.split("\n", 2)[2]  # body: CREATEs
    # The recorded state keeps the two dialects' entries as they were.
    old = json.loads(before["migrations/state.json"])["tables"]
    new = json.loads(files["migrations/state.json"])["tables"]
    for name, table in old.items():
        for d in ("sqlite", "postgres"):
            assert new[name]["rendered"][d] == table["rendered"][d]
        assert "third" in new[name]["rendered"]
    # Planned again from its own output, the history is stable and consistent.
    assert plan(schema, _history(files)) == files


def test_a_missing_revision_after_joining_is_still_named(third: None) -> None:
    schema = build(load_schema(CASE / "schema"))
    files = plan(schema, _history(_expected()))
    revisions = {p: t for p, t in files.items() if p.endswith(".sql")}
    del revisions["migrations/third/0002_join_third.sql"]
    revisions["migrations/third/0003_x.sql"] = "-- stray\n"
    problems, _ = history_problems(revisions, files["migrations/state.json"])
    assert any("0003_x.sql has no counterpart" in p for p in problems)
