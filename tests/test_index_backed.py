"""Every generated lookup, list and filter statement is index-backed.

The statements are collected from the generated repository modules, so a new
entity (or a new declared method or filter) is covered the moment it is
generated, with no per-entity test code:

* every module-level SQL constant (``_UPPER_CASE`` name) of
  ``synthorg.persistence.generated.<dialect>.<accessor>`` for every entity of
  ``generated.manifest.ENTITIES``;
* plain ``str`` constants, and every mask variant (``2 ** n`` WHERE clauses)
  of :class:`~synthorg.persistence.support.FilterSql` constants, and of
  :class:`~synthorg.persistence.support.KeysetSql` constants (the ``iter_*``
  methods' first batch and each continuation statement);
* SELECT, UPDATE and DELETE statements (INSERTs, including
  ``INSERT ... ON CONFLICT``, are out of scope);
* plus, per declared foreign key, the lookup of child rows by the foreign-key
  column that ``ON DELETE`` / referential checks run when a parent row is
  deleted (``<fk:field>``).

Each statement is planned against a fresh, empty database built from the
generated DDL:

* SQLite: ``EXPLAIN QUERY PLAN`` with NULL bound to every ``?``.
* PostgreSQL: ``PREPARE`` (parameter types inferred from context) and
  ``EXPLAIN (FORMAT JSON) EXECUTE`` with ``plan_cache_mode =
  force_generic_plan`` (the plan for *any* parameter values, and NULLs are not
  constant-folded away), ``enable_seqscan = off`` and ``enable_sort = off``.
  With empty tables the planner has no statistics, so instead of loading rows
  the alternatives are priced out: a Seq Scan or Sort that is still chosen
  means no index can replace it.

A plan fails the check when (see :func:`sqlite_plan_problems` and
:func:`postgres_plan_problems`):

1. it reads a table in full: SQLite ``SCAN <table>`` without an index (or via
   an ``AUTOMATIC`` index built for the query), PostgreSQL ``Seq Scan``;
2. the statement narrows by a bound parameter (``"col" = ?``, ``"col" < ?``,
   ...) but the plan walks a whole index instead of seeking into one: SQLite
   ``SCAN <table> USING [COVERING] INDEX`` rather than ``SEARCH``, PostgreSQL
   an ``Index [Only] Scan`` without an ``Index Cond``.  (With
   ``enable_seqscan = off`` PostgreSQL prefers a full primary-key index scan
   plus a row filter to a Seq Scan, so rule 1 alone would miss a missing
   filter index.);
3. a paged statement (``LIMIT``) cannot take its order from an index: SQLite
   ``USE TEMP B-TREE FOR [RIGHT PART OF] ORDER BY``, PostgreSQL ``Sort`` or
   ``Incremental Sort``.

Legitimate exception, decided here and applied by rule (not by name):

* A *whole-table* statement -- no parameter-bound WHERE condition and no
  ``LIMIT``, i.e. an unfiltered ``COUNT(*)`` or aggregate -- visits every row
  by definition.  Rules 1 and 2 do not apply to it: an index cannot reduce the
  rows it reads (SQLite already counts via the narrowest covering index;
  demanding covering indexes for the columns of every aggregate, e.g.
  ``(currency, cost)`` for the cost aggregate, would only add write cost).
  Unfiltered *paged* lists are not exempt: they must walk an index in order
  (``SCAN t USING INDEX``, no sort), which rule 2 allows because they have no
  parameter-bound condition.  Constant conditions such as ``"role" <>
  'system'`` are not parameter-bound and do not make a statement "filtered".

Statements that genuinely cannot be index-backed are listed in
:data:`KNOWN_UNINDEXED` (strict xfail, with the reason); it is empty while
every statement passes.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

import synthorg.persistence.generated as generated_pkg
from synthorg.persistence.generated.manifest import ENTITIES
from synthorg.persistence.support import FilterSql, KeysetSql
from tests.support.pgserver import PgServer

DIALECTS = ("sqlite", "postgres")
DDL_DIR = Path(generated_pkg.__file__).parent / "ddl"
PLACEHOLDER = {"sqlite": "?", "postgres": "%s"}

#: First keyword of the statements in scope.  INSERT (and REPLACE) are not
#: lookups; their conflict target is the primary key / a unique index anyway.
CHECKED_VERBS = frozenset({"SELECT", "WITH", "UPDATE", "DELETE"})
SKIPPED_VERBS = frozenset({"INSERT", "REPLACE", "COPY", "CREATE"})  # bulk staging
#: A bulk merge reads (and empties) the session's staging temp table whole,
#: by design; it starts with ``WITH staged AS (DELETE FROM "_stage_…")`` and
#: its lookups are the INSERT's ON CONFLICT on the key. Out of scope, as the
#: INSERT it is.
_STAGING = re.compile(r'^\s*WITH\s+staged\s+AS\s+\(DELETE\s+FROM\s+"_stage_')

#: ``(dialect, accessor, constant, mask)`` -> why it cannot be index-backed.
#: Only for statements reported upstream; each becomes a strict xfail so the
#: entry must be removed once the generator is fixed.
KNOWN_UNINDEXED: dict[tuple[str, str, str, int | None], str] = {}


# ---------------------------------------------------------------------------
# Collecting the statements
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """One SQL statement of one generated repository, as executed."""

    dialect: str
    accessor: str
    table: str
    name: str  # constant name, or ``<fk:field>`` for a foreign-key lookup
    mask: int | None  # FilterSql mask; None for plain statements
    sql: str

    @property
    def test_id(self) -> str:
        suffix = "" if self.mask is None else f"[mask={self.mask}]"
        return f"{self.dialect}:{self.accessor}.{self.name}{suffix}"

    @property
    def key(self) -> tuple[str, str, str, int | None]:
        return (self.dialect, self.accessor, self.name, self.mask)


def _verb(sql: str) -> str:
    match = re.match(r"\s*(\w+)", sql)
    return match.group(1).upper() if match else ""


def _module(dialect: str, accessor: str) -> Any:
    return importlib.import_module(
        f"synthorg.persistence.generated.{dialect}.{accessor}"
    )


def _namespaces(module: Any) -> Iterator[dict[str, Any]]:
    """The module's globals, then each repository class's body."""
    yield vars(module)
    for value in vars(module).values():
        if isinstance(value, type) and value.__module__ == module.__name__:
            yield vars(value)


def _sql_constants(module: Any) -> Iterator[tuple[str, int | None, str]]:
    """``(name, mask, sql)`` of every SQL constant of ``module``.

    Statements are class constants above the method running them; any left
    at module level count too.
    """
    for name, value in (kv for ns in _namespaces(module) for kv in ns.items()):
        if not (name.startswith("_") and name.isupper()):
            continue
        if isinstance(value, FilterSql):
            n_conditions = len(value._conditions)
            # A method that requires one of its filters never runs mask 0.
            for mask in range(value.min_mask, 2**n_conditions):
                yield name, mask, value[mask]
        elif isinstance(value, KeysetSql):
            # An iter_* method: its first batch, and each continuation (after
            # a row without NULLs) for every filter combination.
            row = ["x"] * 64
            for mask in range(2 ** len(value._conditions)):
                yield name, mask, value.first(mask)
                for depth in range(value.depth):
                    found = value.after(mask, depth, row)
                    if found is not None:
                        yield f"{name}[after@{depth}]", mask, found[0]
        elif isinstance(value, str):
            yield name, None, value


def collect_statements(dialect: str) -> list[Statement]:
    """Every in-scope statement of every entity's ``dialect`` repository."""
    mark = PLACEHOLDER[dialect]
    found: list[Statement] = []
    for entity in ENTITIES:
        module = _module(dialect, entity.accessor)
        for name, mask, sql in _sql_constants(module):
            if _verb(sql) in CHECKED_VERBS and not _STAGING.match(sql):
                found.append(
                    Statement(dialect, entity.accessor, entity.table, name, mask, sql)
                )
        for field, _parent, _target in entity.foreign_keys:
            sql = f'SELECT 1 FROM "{entity.table}" WHERE "{field}" = {mark}'
            found.append(
                Statement(
                    dialect, entity.accessor, entity.table, f"<fk:{field}>", None, sql
                )
            )
    return found


STATEMENTS = {dialect: collect_statements(dialect) for dialect in DIALECTS}


def _params(dialect: str) -> list[Any]:
    params = []
    for statement in STATEMENTS[dialect]:
        reason = KNOWN_UNINDEXED.get(statement.key)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(statement, id=statement.test_id, marks=marks))
    return params


# ---------------------------------------------------------------------------
# Classifying a statement
# ---------------------------------------------------------------------------

_WHERE_RE = re.compile(
    r"\bWHERE\b(?P<where>.*?)(?=\bORDER\s+BY\b|\bGROUP\s+BY\b|\bLIMIT\b"
    r"|\bRETURNING\b|$)",
    re.IGNORECASE | re.DOTALL,
)
_BOUND_CONDITION_RE = re.compile(
    r'"?\w+"?\s*(?:=|<>|!=|<=|>=|<|>|\bIN\b|\bLIKE\b)\s*\(?\s*(?:\?|%s|\$\d+)',
    re.IGNORECASE,
)


def has_bound_condition(sql: str) -> bool:
    """Whether the WHERE clause narrows the rows by a bound parameter."""
    return any(
        _BOUND_CONDITION_RE.search(m.group("where")) for m in _WHERE_RE.finditer(sql)
    )


def is_paged(sql: str) -> bool:
    """A paged list: the order must come from an index, not a sort."""
    return re.search(r"\bLIMIT\b", sql, re.IGNORECASE) is not None


def is_whole_table(sql: str) -> bool:
    """No bound condition and no LIMIT: reads every row by definition."""
    return not has_bound_condition(sql) and not is_paged(sql)


# ---------------------------------------------------------------------------
# SQLite
# ---------------------------------------------------------------------------

_SQLITE_SCAN_RE = re.compile(r"^SCAN (?P<table>\S+)(?: AS \S+)?(?P<rest>.*)$")


def sqlite_plan(db: sqlite3.Connection, sql: str) -> list[str]:
    """The ``detail`` column of ``EXPLAIN QUERY PLAN``, NULL for each ``?``."""
    rows = db.execute(f"EXPLAIN QUERY PLAN {sql}", [None] * sql.count("?"))
    return [str(row[3]) for row in rows.fetchall()]


def sqlite_plan_problems(sql: str, plan: list[str], tables: set[str]) -> list[str]:
    """Why ``plan`` (of ``sql``) is not index-backed; empty when it is."""
    problems: list[str] = []
    whole_table = is_whole_table(sql)
    filtered = has_bound_condition(sql)
    for detail in plan:
        match = _SQLITE_SCAN_RE.match(detail)
        automatic = "AUTOMATIC" in detail
        if (match and match.group("table").strip('"') in tables) or automatic:
            uses_index = "INDEX" in detail and not automatic
            if not uses_index and not whole_table:
                problems.append(f"full table scan: {detail!r}")
            elif match and uses_index and filtered:
                problems.append(
                    f"full index scan (no index starts with the filtered "
                    f"column(s)): {detail!r}"
                )
        if is_paged(sql) and "TEMP B-TREE" in detail and "ORDER BY" in detail:
            problems.append(
                f"paged statement sorts its result (ORDER BY not served by an "
                f"index): {detail!r}"
            )
    return problems


@pytest.fixture(scope="module")
def sqlite_db() -> Iterator[sqlite3.Connection]:
    """An in-memory database built from the generated SQLite DDL."""
    db = sqlite3.connect(":memory:")
    db.executescript((DDL_DIR / "sqlite.sql").read_text(encoding="utf-8"))
    try:
        yield db
    finally:
        db.close()


def _sqlite_tables(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(row[0]) for row in rows.fetchall()}


def _report(statement_sql: str, plan_text: str, problems: list[str]) -> str:
    return "\n".join(
        [
            "not index-backed:",
            *(f"  - {p}" for p in problems),
            f"statement: {statement_sql}",
            "plan:",
            plan_text,
        ]
    )


@pytest.mark.parametrize("statement", _params("sqlite"))
def test_sqlite_statement_is_index_backed(
    sqlite_db: sqlite3.Connection, statement: Statement
) -> None:
    plan = sqlite_plan(sqlite_db, statement.sql)
    problems = sqlite_plan_problems(statement.sql, plan, _sqlite_tables(sqlite_db))
    assert not problems, _report(statement.sql, "\n".join(plan), problems)


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------

_PG_PROBE = "index_probe"


def to_numbered(sql: str) -> tuple[str, int]:
    """psycopg ``%s`` placeholders -> ``$1..$n`` (``%%`` -> ``%``), and n."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) == "%%":
            return "%"
        count += 1
        return f"${count}"

    return re.sub(r"%%|%s", replace, sql), count


def postgres_plan(conn: psycopg.Connection[Any], sql: str) -> dict[str, Any]:
    """The generic plan (JSON, top node) of ``sql`` with ``%s`` parameters."""
    numbered, n_params = to_numbered(sql)
    conn.execute(f"PREPARE {_PG_PROBE} AS {numbered}")
    try:
        args = f"({', '.join(['NULL'] * n_params)})" if n_params else ""
        row = conn.execute(
            f"EXPLAIN (FORMAT JSON) EXECUTE {_PG_PROBE}{args}"
        ).fetchone()
    finally:
        conn.execute(f"DEALLOCATE {_PG_PROBE}")
    assert row is not None
    document = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    return dict(document[0]["Plan"])


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _walk(child)


def _describe(node: dict[str, Any]) -> str:
    parts = [str(node["Node Type"])]
    for key in ("Relation Name", "Index Name", "Index Cond", "Filter", "Sort Key"):
        if key in node:
            parts.append(f"{key}={node[key]}")
    return " ".join(parts)


def format_pg_plan(node: dict[str, Any], depth: int = 0) -> str:
    lines = ["  " * depth + _describe(node)]
    lines.extend(format_pg_plan(c, depth + 1) for c in node.get("Plans", ()))
    return "\n".join(lines)


def postgres_plan_problems(sql: str, plan: dict[str, Any]) -> list[str]:
    """Why ``plan`` (of ``sql``) is not index-backed; empty when it is."""
    problems: list[str] = []
    whole_table = is_whole_table(sql)
    filtered = has_bound_condition(sql)
    for node in _walk(plan):
        kind = node["Node Type"]
        if kind == "Seq Scan" and not whole_table:
            problems.append(f"full table scan: {_describe(node)}")
        elif kind in {"Index Scan", "Index Only Scan"} and filtered:
            if "Index Cond" not in node:
                problems.append(
                    f"full index scan (no index starts with the filtered "
                    f"column(s)): {_describe(node)}"
                )
        elif kind in {"Sort", "Incremental Sort"} and is_paged(sql):
            problems.append(
                f"paged statement sorts its result (ORDER BY not served by an "
                f"index): {_describe(node)}"
            )
    return problems


@pytest.fixture(scope="module")
def pg_conn(pg_server: PgServer) -> Iterator[psycopg.Connection[Any]]:
    """A fresh database built from the generated PostgreSQL DDL.

    Module-scoped (the statements only plan, never execute), so the DDL is
    applied once; the planner settings price out every non-index path.
    """
    name = f"t_ix_{secrets.token_hex(4)}"
    pg_server.create_database(name)
    try:
        with psycopg.connect(
            pg_server.dsn(name), autocommit=True, prepare_threshold=None
        ) as conn:
            conn.execute((DDL_DIR / "postgres.sql").read_text(encoding="utf-8"))
            conn.execute("SET enable_seqscan = off")
            conn.execute("SET enable_sort = off")
            conn.execute("SET plan_cache_mode = force_generic_plan")
            yield conn
    finally:
        pg_server.drop_database(name)


@pytest.mark.parametrize("statement", _params("postgres"))
def test_postgres_statement_is_index_backed(
    pg_conn: psycopg.Connection[Any], statement: Statement
) -> None:
    plan = postgres_plan(pg_conn, statement.sql)
    problems = postgres_plan_problems(statement.sql, plan)
    assert not problems, _report(statement.sql, format_pg_plan(plan), problems)


# ---------------------------------------------------------------------------
# Coverage guards
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_generated_module_is_an_entity(dialect: str) -> None:
    """A repository module missing from the manifest would escape the check."""
    package = importlib.import_module(f"synthorg.persistence.generated.{dialect}")
    modules = {m.name for m in pkgutil.iter_modules(package.__path__)}
    assert modules <= {e.accessor for e in ENTITIES}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_entity_has_checked_statements(dialect: str) -> None:
    covered = {s.accessor for s in STATEMENTS[dialect]}
    assert covered == {e.accessor for e in ENTITIES}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_sql_constant_is_classified(dialect: str) -> None:
    """A new kind of SQL constant must be put in or out of scope explicitly."""
    unknown = [
        f"{entity.accessor}.{name}: {sql[:40]!r}"
        for entity in ENTITIES
        for name, _mask, sql in _sql_constants(_module(dialect, entity.accessor))
        if re.match(r"\s*[A-Za-z]+\s", sql)
        and _verb(sql) not in CHECKED_VERBS | SKIPPED_VERBS
    ]
    assert not unknown


# ---------------------------------------------------------------------------
# Self-tests: the checkers do catch scans and sorts
# ---------------------------------------------------------------------------

#: Statements on a generated table that cannot be index-backed: ``title`` and
#: ``description`` of ``tasks`` carry no index.  ``(sql with ?, expected)``.
_BAD = (
    ('SELECT COUNT(*) FROM "tasks" WHERE "title" = ?', "full "),
    (
        'SELECT "id" FROM "tasks" WHERE "title" = ? ORDER BY "id" LIMIT ?',
        "full index scan",
    ),
    ('DELETE FROM "tasks" WHERE "description" = ?', "full "),
    ('SELECT "id" FROM "tasks" ORDER BY "title" LIMIT ?', "sorts its result"),
)
_GOOD = (
    'SELECT "id" FROM "tasks" WHERE "id" = ?',
    'SELECT "id" FROM "tasks" WHERE "status" = ? ORDER BY "id" LIMIT ?',
    'SELECT "id" FROM "tasks" ORDER BY "id" LIMIT ?',
    'SELECT COUNT(*) FROM "tasks"',
)


@pytest.mark.parametrize(("sql", "expected"), _BAD)
def test_sqlite_checker_flags_unindexed(
    sqlite_db: sqlite3.Connection, sql: str, expected: str
) -> None:
    plan = sqlite_plan(sqlite_db, sql)
    problems = sqlite_plan_problems(sql, plan, _sqlite_tables(sqlite_db))
    assert any(expected in p for p in problems), plan


@pytest.mark.parametrize("sql", _GOOD)
def test_sqlite_checker_accepts_indexed(
    sqlite_db: sqlite3.Connection, sql: str
) -> None:
    plan = sqlite_plan(sqlite_db, sql)
    assert not sqlite_plan_problems(sql, plan, _sqlite_tables(sqlite_db)), plan


def test_sqlite_checker_flags_plain_table_scan() -> None:
    db = sqlite3.connect(":memory:")
    try:
        db.execute('CREATE TABLE "heap" ("a" TEXT, "b" TEXT)')
        sql = 'SELECT "b" FROM "heap" WHERE "a" = ?'
        plan = sqlite_plan(db, sql)
        problems = sqlite_plan_problems(sql, plan, {"heap"})
    finally:
        db.close()
    assert any("full table scan" in p for p in problems), plan


@pytest.mark.parametrize(("sql", "expected"), _BAD)
def test_postgres_checker_flags_unindexed(
    pg_conn: psycopg.Connection[Any], sql: str, expected: str
) -> None:
    pg_sql = sql.replace("?", "%s")
    plan = postgres_plan(pg_conn, pg_sql)
    problems = postgres_plan_problems(pg_sql, plan)
    assert any(expected in p for p in problems), format_pg_plan(plan)


@pytest.mark.parametrize("sql", _GOOD)
def test_postgres_checker_accepts_indexed(
    pg_conn: psycopg.Connection[Any], sql: str
) -> None:
    pg_sql = sql.replace("?", "%s")
    plan = postgres_plan(pg_conn, pg_sql)
    assert not postgres_plan_problems(pg_sql, plan), format_pg_plan(plan)


def test_postgres_checker_flags_plain_table_scan(
    pg_conn: psycopg.Connection[Any],
) -> None:
    pg_conn.execute('CREATE TEMP TABLE "heap" ("a" TEXT, "b" TEXT)')
    try:
        sql = 'SELECT "b" FROM "heap" WHERE "a" = %s'
        plan = postgres_plan(pg_conn, sql)
    finally:
        pg_conn.execute('DROP TABLE "heap"')
    problems = postgres_plan_problems(sql, plan)
    assert any("full table scan" in p for p in problems), format_pg_plan(plan)
