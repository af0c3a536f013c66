# ruff: noqa: S608  (SQL built from the models' own field names, all quoted)
"""Data of ``make bench-scale``: the three tables, their rows, fast seeding.

Three tables of one migrated database carry the scale measurements:

* ``tasks`` (wide rows, id-keyed, filtered): point get, upsert, count;
* ``provider_audit_events`` (an append-only log whose ids sort in time
  order): OFFSET paging vs keyset paging, and appends;
* ``tracked_containers`` (small rows): reading the whole table through
  ``load_all`` and streaming it through ``iter_load_all`` (peak memory).

Seeding is fast and grows a table in place: the first ``TEMPLATES`` rows go
in through the generated repositories (validated, encoded by the real
code), every further row is a server-side copy of template ``g % TEMPLATES``
with a new key (SQLite: a recursive CTE; PostgreSQL: ``generate_series``),
then ``ANALYZE``. Growing 100k -> 1M copies 900k rows without Python.

The hand-written floors' SQL is built here from the model field names, the
same statements the generated modules send (never imported from them:
their private names are not an interface).
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Final

from bench.common import FIELDS, make_task, task_id
from synthorg.persistence import PersistenceBackend
from synthorg.persistence._codec import dt_to_text, json_dumps
from synthorg.persistence.generated.enums import ContainerState, ProviderAuditAction
from synthorg.persistence.generated.provider_audit_events import ProviderAuditEvent
from synthorg.persistence.generated.tracked_containers import TrackedContainer

TEMPLATES: Final = 1000
"""Rows written through the repositories; the rest are copies of these."""
PROJECTS: Final = 20
"""Projects of ``tasks``: a filtered count matches rows / 20."""
PAGE: Final = 50
"""Rows per page (offset and keyset)."""

_BASE: Final = datetime(2025, 1, 1, tzinfo=UTC)
_ACTIONS: Final = list(ProviderAuditAction)
_STATES: Final = list(ContainerState)


def event_id(i: int) -> str:
    """Id of log row ``i`` (sorts in insertion order)."""
    return f"evt-{i:07d}"


def container_id(i: int) -> str:
    """Key of container row ``i``."""
    return f"ctr-{i:07d}"


def make_event(i: int, *, eid: str | None = None) -> ProviderAuditEvent:
    """A realistic, deterministic provider audit event."""
    rng = random.Random(i)
    return ProviderAuditEvent(
        id=eid or event_id(i),
        provider_name=f"provider-{i % 8}",
        action=rng.choice(_ACTIONS),
        actor=f"user-{rng.randint(1, 20)}",
        timestamp=_BASE + timedelta(seconds=i),
        before=None if i % 3 == 0 else {"model": "m-small", "rate_limit": i % 97},
        after={"model": "m-large", "rate_limit": i % 89, "enabled": True},
        details={"source": "bench", "n": i, "reason": "scheduled rotation"},
    )


def make_container(i: int) -> TrackedContainer:
    """A realistic, deterministic tracked container."""
    rng = random.Random(i)
    created = _BASE + timedelta(seconds=i * 3)
    return TrackedContainer(
        container_id=container_id(i),
        name=f"sandbox-{i}",
        image="python:3.12-slim",
        agent_id=f"agent-{rng.randint(1, 50)}",
        task_id=None if i % 2 else task_id(i),
        state=rng.choice(_STATES),
        labels={"team": f"team-{i % 7}", "purpose": "sandbox"},
        created_at=created,
        last_seen_at=created + timedelta(minutes=5),
    )


# ------------------------------------------------------------------ tables


@dataclass(frozen=True)
class Table:
    """One seeded table: its key column, key format and derived columns."""

    name: str
    columns: tuple[str, ...]
    key: str
    prefix: str
    json: frozenset[str]
    #: column -> (prefix, width, modulo): the value is f"{prefix}{g % modulo:0width}".
    derived: tuple[tuple[str, str, int, int], ...] = ()


TASKS: Final = Table(
    name="tasks",
    columns=FIELDS,
    key="id",
    prefix="task-",
    json=frozenset(
        {
            "reviewers",
            "dependencies",
            "artifacts_expected",
            "acceptance_criteria",
            "delegation_chain",
            "metadata",
        }
    ),
    derived=(("project", "proj-", 2, PROJECTS),),
)
EVENTS: Final = Table(
    name="provider_audit_events",
    columns=tuple(ProviderAuditEvent.model_fields),
    key="id",
    prefix="evt-",
    json=frozenset({"before", "after", "details"}),
)
CONTAINERS: Final = Table(
    name="tracked_containers",
    columns=tuple(TrackedContainer.model_fields),
    key="container_id",
    prefix="ctr-",
    json=frozenset({"labels"}),
)
TABLES: Final = (TASKS, EVENTS, CONTAINERS)


def _cols(table: Table) -> str:
    return ", ".join(f'"{c}"' for c in table.columns)


def _fmt(dialect: str, prefix: str, width: int, value: str) -> str:
    if dialect == "sqlite":
        return f"printf('{prefix}%0{width}d', {value})"
    return f"'{prefix}' || lpad(({value})::text, {width}, '0')"


def _mod(dialect: str, modulo: int) -> str:
    # psycopg reads a bare % as a placeholder: PostgreSQL gets mod().
    return f"s.g % {modulo}" if dialect == "sqlite" else f"mod(s.g, {modulo})"


def grow_sql(table: Table, dialect: str) -> str:
    """Copy template ``g % TEMPLATES`` as row ``g`` for g in [start, stop)."""
    exprs = []
    for c in table.columns:
        if c == table.key:
            exprs.append(_fmt(dialect, table.prefix, 7, "s.g"))
            continue
        for col, prefix, width, modulo in table.derived:
            if col == c:
                exprs.append(_fmt(dialect, prefix, width, _mod(dialect, modulo)))
                break
        else:
            exprs.append(f't."{c}"')
    join = _fmt(dialect, table.prefix, 7, _mod(dialect, TEMPLATES))
    select = (
        f'SELECT {", ".join(exprs)} FROM s JOIN "{table.name}" AS t '
        f'ON t."{table.key}" = {join}'
    )
    if dialect == "sqlite":
        return (
            "WITH RECURSIVE s(g) AS (SELECT ? UNION ALL SELECT g + 1 FROM s "
            f'WHERE g + 1 < ?) INSERT INTO "{table.name}" ({_cols(table)}) {select}'
        )
    return f'INSERT INTO "{table.name}" ({_cols(table)}) ' + select.replace(
        "FROM s JOIN", "FROM generate_series(%s::int, %s::int - 1) AS s(g) JOIN"
    )


async def write_templates(backend: PersistenceBackend) -> None:
    """The first TEMPLATES rows of every table, through the repositories."""
    await backend.tasks.save_many([make_task(i, PROJECTS) for i in range(TEMPLATES)])
    await backend.provider_audit_events.append_many(
        [make_event(i) for i in range(TEMPLATES)]
    )
    await backend.tracked_containers.save_many(
        [make_container(i) for i in range(TEMPLATES)]
    )


def grow_sqlite(path: str, have: int, want: int) -> None:
    """Grow every table from ``have`` to ``want`` rows, then ANALYZE."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    try:
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        for table in TABLES:
            conn.execute(grow_sql(table, "sqlite"), (have, want))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        conn.close()


def grow_postgres(dsn: str, have: int, want: int) -> None:
    """Grow every table from ``have`` to ``want`` rows, then VACUUM ANALYZE."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        with conn.transaction():
            for table in TABLES:
                conn.execute(grow_sql(table, "postgres").encode(), (have, want))
        for table in TABLES:
            conn.execute(f'VACUUM (ANALYZE) "{table.name}"'.encode())
        conn.execute(b"CHECKPOINT")


# --------------------------------------------------------- hand-written SQL


@dataclass(frozen=True)
class LogSql:
    """The log and whole-table statements (``?`` placeholders)."""

    page: str
    keyset_first: str
    keyset_after: str
    insert: str
    load_all: str
    purge: str


def _log_sql() -> LogSql:
    cols, name = _cols(EVENTS), EVENTS.name
    select = f'SELECT {cols} FROM "{name}"'
    marks = ", ".join("?" for _ in EVENTS.columns)
    return LogSql(
        page=f'{select} ORDER BY "id" DESC LIMIT ? OFFSET ?',
        keyset_first=f'{select} ORDER BY "id" DESC LIMIT ?',
        keyset_after=f'{select} WHERE "id" < ? ORDER BY "id" DESC LIMIT ?',
        insert=f'INSERT INTO "{name}" ({cols}) VALUES ({marks})',
        load_all=(
            f'SELECT {_cols(CONTAINERS)} FROM "{CONTAINERS.name}" '
            'ORDER BY "container_id" LIMIT ? OFFSET ?'
        ),
        purge=f'DELETE FROM "{name}" WHERE "id" >= ? AND "id" < ?',
    )


def restyle(text: str, style: str) -> str:
    """``?`` placeholders -> ``%s`` (psycopg) or ``$n`` (asyncpg)."""
    if style == "?":
        return text
    if style == "%s":
        return text.replace("?", "%s")
    parts = text.split("?")
    out = [parts[0]]
    for n, part in enumerate(parts[1:], start=1):
        out.append(f"${n}{part}")
    return "".join(out)


LOG_SQL: Final = _log_sql()


def log_sql(style: str) -> LogSql:
    """LOG_SQL in a driver's placeholder style."""
    return LogSql(*(restyle(s, style) for s in LOG_SQL.__dict__.values()))


# -------------------------------------------------------- encode / decode


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, datetime):
        return dt_to_text(v)
    if isinstance(v, dict | list | tuple):
        return json_dumps(v)
    return v


def sqlite_row(model: Any, table: Table) -> tuple[Any, ...]:
    """A model -> SQLite parameters (enum values, JSON text, fixed-width time)."""
    return tuple(_sqlite_value(getattr(model, c)) for c in table.columns)


def pg_row(model: Any, table: Table, wrap: Any = None) -> tuple[Any, ...]:
    """A model -> PostgreSQL values; JSON columns passed through ``wrap``."""
    out = []
    for c in table.columns:
        v = getattr(model, c)
        if isinstance(v, Enum):
            v = v.value
        elif wrap is not None and c in table.json and v is not None:
            v = wrap(v)
        out.append(v)
    return tuple(out)


def _json_idx(table: Table) -> tuple[int, ...]:
    return tuple(i for i, c in enumerate(table.columns) if c in table.json)


_EVENT_JSON: Final = _json_idx(EVENTS)
_CONTAINER_JSON: Final = _json_idx(CONTAINERS)


def event_from_sqlite(row: Sequence[Any]) -> ProviderAuditEvent:
    """Hand-written SQLite row -> event: decode JSON text, validate once."""
    values = list(row)
    for i in _EVENT_JSON:
        if values[i] is not None:
            values[i] = json.loads(values[i])
    return ProviderAuditEvent.model_validate(
        dict(zip(EVENTS.columns, values, strict=True))
    )


def container_from_sqlite(row: Sequence[Any]) -> TrackedContainer:
    """Hand-written SQLite row -> container."""
    values = list(row)
    for i in _CONTAINER_JSON:
        values[i] = json.loads(values[i])
    return TrackedContainer.model_validate(
        dict(zip(CONTAINERS.columns, values, strict=True))
    )


def event_from_pg(row: Sequence[Any]) -> ProviderAuditEvent:
    """Hand-written PostgreSQL row (JSONB decoded by the driver) -> event."""
    return ProviderAuditEvent.model_validate(
        dict(zip(EVENTS.columns, row, strict=True))
    )


def container_from_pg(row: Sequence[Any]) -> TrackedContainer:
    """Hand-written PostgreSQL row -> container."""
    return TrackedContainer.model_validate(
        dict(zip(CONTAINERS.columns, row, strict=True))
    )
