# ruff: noqa: S608  (SQL built from the model's own field names, all quoted)
"""What every implementation shares: sizes, data, SQL, row mapping, interface.

Honesty rules the harness keeps (see ``docs/benchmarks.md``):

* every Python implementation sends the same SQL text (modulo the driver's
  placeholder style, and the ORM's table-qualified column names);
* every row read becomes one ``Task`` through exactly one
  ``Task.model_validate``; every write starts from an already validated
  ``Task`` and converts it to driver parameters per call;
* the input data (ids, tasks, projects) is built before timing and shared.
"""

from __future__ import annotations

import json
import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from synthorg.persistence._codec import dt_to_text, json_dumps
from synthorg.persistence.generated.enums import (
    Complexity,
    CoordinationTopology,
    Priority,
    TaskStatus,
    TaskStructure,
    TaskType,
)
from synthorg.persistence.generated.tasks import Task

# --------------------------------------------------------------------- sizes


@dataclass(frozen=True, kw_only=True)
class Mode:
    """How big and how long one run is."""

    name: str
    rows: int
    projects: int
    reps: int
    n_get: int
    n_upsert: int
    n_page: int
    n_count: int
    n_append: int
    n_bulk: int
    mix_tasks: int
    mix_ops_per_task: int
    page_size: int = 50


FULL: Final = Mode(
    name="full",
    rows=100_000,
    projects=20,
    reps=5,
    n_get=2000,
    n_upsert=1000,
    n_page=200,
    n_count=200,
    n_append=10_000,
    n_bulk=10_000,
    mix_tasks=32,
    mix_ops_per_task=50,
)
QUICK: Final = Mode(
    name="quick",
    rows=10_000,
    projects=20,
    reps=3,
    n_get=150,
    n_upsert=40,
    n_page=10,
    n_count=20,
    n_append=80,
    n_bulk=500,
    mix_tasks=32,
    mix_ops_per_task=3,
)

WORKLOADS: Final = (
    "get",
    "upsert",
    "page",
    "count",
    "append",
    "append32",
    "bulk",
    "mix",
)
WORKLOAD_TITLES: Final = {
    "get": "point get by id",
    "upsert": "upsert (update of an existing id)",
    "page": "filtered page of 50 (project=…, ORDER BY id)",
    "count": "filtered count (project=…)",
    "append": "single appends (save of new ids)",
    "append32": "concurrent appends: 32 tasks saving new ids (the append rows)",
    "bulk": "bulk append (one call, rows/s)",
    "mix": "32 concurrent tasks, 70/20/10 get/upsert/page",
}

# ----------------------------------------------------------------- columns

FIELDS: Final[tuple[str, ...]] = tuple(Task.model_fields)
JSON_FIELDS: Final = frozenset(
    {
        "reviewers",
        "dependencies",
        "artifacts_expected",
        "acceptance_criteria",
        "delegation_chain",
        "metadata",
    }
)
DT_FIELDS: Final = frozenset({"deadline", "created_at", "updated_at"})
ENUM_FIELDS: Final = frozenset(
    {
        "type",
        "priority",
        "estimated_complexity",
        "status",
        "task_structure",
        "coordination_topology",
    }
)
_JSON_IDX: Final = tuple(i for i, f in enumerate(FIELDS) if f in JSON_FIELDS)

# --------------------------------------------------------------------- SQL


def _q(name: str) -> str:
    return f'"{name}"'


def _cols() -> str:
    return ", ".join(_q(f) for f in FIELDS)


def _placeholders(style: str, start: int, n: int) -> list[str]:
    if style == "$":
        return [f"${i}" for i in range(start, start + n)]
    return [style] * n


@dataclass(frozen=True)
class Sql:
    """The statements of the workloads in one placeholder style."""

    get: str
    upsert: str
    insert: str
    page: str
    count: str


def build_sql(style: str) -> Sql:
    """Same statements as the generated repositories; ``style``: ?, %s or $."""
    cols = _cols()
    vals = ", ".join(_placeholders(style, 1, len(FIELDS)))
    sets = ", ".join(f"{_q(f)} = excluded.{_q(f)}" for f in FIELDS[1:])
    one = _placeholders(style, 1, 3)
    insert = f'INSERT INTO "tasks" ({cols}) VALUES ({vals})'
    return Sql(
        get=f'SELECT {cols} FROM "tasks" WHERE "id" = {one[0]}',
        upsert=f'{insert} ON CONFLICT ("id") DO UPDATE SET {sets}',
        insert=insert,
        page=(
            f'SELECT {cols} FROM "tasks" WHERE "project" = {one[0]}'
            f' ORDER BY "id" LIMIT {one[1]} OFFSET {one[2]}'
        ),
        count=f'SELECT COUNT(*) FROM "tasks" WHERE "project" = {one[0]}',
    )


SQLITE_SQL: Final = build_sql("?")
PSYCOPG_SQL: Final = build_sql("%s")
ASYNCPG_SQL: Final = build_sql("$")
COPY_COLUMNS: Final = FIELDS

# -------------------------------------------------------------- row mapping


def task_from_sqlite_row(row: Sequence[Any]) -> Task:
    """Hand-written SQLite row -> Task: decode JSON text, validate once."""
    values = list(row)
    for i in _JSON_IDX:
        values[i] = json.loads(values[i])
    return Task.model_validate(dict(zip(FIELDS, values, strict=True)))


def task_from_pg_row(row: Sequence[Any]) -> Task:
    """Hand-written PostgreSQL row (JSONB already decoded) -> Task."""
    return Task.model_validate(dict(zip(FIELDS, row, strict=True)))


def sqlite_params(t: Task) -> tuple[Any, ...]:
    """Task -> SQLite parameters (enum values, JSON text, fixed-width time)."""
    return (
        t.id,
        t.title,
        t.description,
        t.type.value,
        t.priority.value,
        t.project,
        t.created_by,
        t.assigned_to,
        json_dumps(t.reviewers),
        json_dumps(t.dependencies),
        json_dumps(t.artifacts_expected),
        json_dumps(t.acceptance_criteria),
        t.estimated_complexity.value,
        t.budget_limit,
        None if t.deadline is None else dt_to_text(t.deadline),
        t.max_retries,
        t.status.value,
        t.parent_task_id,
        json_dumps(t.delegation_chain),
        None if t.task_structure is None else t.task_structure.value,
        t.coordination_topology.value,
        json_dumps(t.metadata),
        dt_to_text(t.created_at),
        dt_to_text(t.updated_at),
    )


def pg_values(t: Task) -> tuple[Any, ...]:
    """Task -> PostgreSQL values; JSON columns left as Python objects.

    psycopg callers wrap them in ``Jsonb``; asyncpg's jsonb codec encodes them.
    """
    return (
        t.id,
        t.title,
        t.description,
        t.type.value,
        t.priority.value,
        t.project,
        t.created_by,
        t.assigned_to,
        t.reviewers,
        t.dependencies,
        t.artifacts_expected,
        t.acceptance_criteria,
        t.estimated_complexity.value,
        t.budget_limit,
        t.deadline,
        t.max_retries,
        t.status.value,
        t.parent_task_id,
        t.delegation_chain,
        None if t.task_structure is None else t.task_structure.value,
        t.coordination_topology.value,
        t.metadata,
        t.created_at,
        t.updated_at,
    )


def orm_values(t: Task) -> dict[str, Any]:
    """Task -> ORM column values (the mapped types do the encoding)."""
    return dict(zip(FIELDS, pg_values(t), strict=True))


# -------------------------------------------------------------------- data

_BASE_TIME: Final = datetime(2025, 1, 1, tzinfo=UTC)
_TYPES: Final = list(TaskType)
_PRIORITIES: Final = list(Priority)
_STATUSES: Final = list(TaskStatus)
_COMPLEXITIES: Final = list(Complexity)
_TOPOLOGIES: Final = list(CoordinationTopology)
_STRUCTURES: Final = [None, *TaskStructure]


def project_name(i: int) -> str:
    """Name of project number ``i``."""
    return f"proj-{i:02d}"


def task_id(i: int) -> str:
    """Id of pre-filled row ``i``."""
    return f"task-{i:07d}"


def make_task(
    i: int, n_projects: int, *, tid: str | None = None, project: str | None = None
) -> Task:
    """A realistic, deterministic task (every column populated)."""
    rng = random.Random(i)
    created = _BASE_TIME + timedelta(seconds=i * 7)
    return Task(
        id=tid or task_id(i),
        title=f"Task {i}: implement the {rng.choice(['api', 'ui', 'db'])} part",
        description="Some words about the work to be done. " * rng.randint(1, 4),
        type=rng.choice(_TYPES),
        priority=rng.choice(_PRIORITIES),
        project=project or project_name(i % n_projects),
        created_by=f"agent-{rng.randint(1, 50)}",
        assigned_to=None if i % 5 == 0 else f"agent-{rng.randint(1, 50)}",
        reviewers=(f"agent-{rng.randint(1, 50)}", f"agent-{rng.randint(1, 50)}"),
        dependencies=(task_id(max(0, i - 1)),) if i % 3 else (),
        artifacts_expected=({"type": "code", "path": f"src/mod_{i}.py"},),
        acceptance_criteria=({"text": "tests pass", "done": False},),
        estimated_complexity=rng.choice(_COMPLEXITIES),
        budget_limit=round(rng.random() * 100, 2),
        deadline=None if i % 4 == 0 else created + timedelta(days=7),
        max_retries=rng.randint(0, 3),
        status=rng.choice(_STATUSES),
        parent_task_id=None if i % 7 else task_id(max(0, i - 7)),
        delegation_chain=("agent-1", f"agent-{rng.randint(2, 50)}"),
        task_structure=rng.choice(_STRUCTURES),
        coordination_topology=rng.choice(_TOPOLOGIES),
        metadata={"source": "bench", "n": i, "tags": ["a", "b"]},
        created_at=created,
        updated_at=created,
    )


def updated(t: Task, n: int) -> Task:
    """A changed copy of ``t`` for an upsert (title and updated_at)."""
    return t.model_copy(
        update={
            "title": f"{t.title} (rev {n})",
            "updated_at": t.updated_at + timedelta(minutes=n),
        }
    )


# --------------------------------------------------------------- interface

BulkFn = Callable[[Sequence[Task]], Awaitable[None]]


class Impl(ABC):
    """One implementation of the workloads on one prepared database."""

    #: Row label in the table.
    name: str = "?"
    #: "generated", "tuned", "naive", "floor" or "orm".
    kind: str = "?"

    @abstractmethod
    async def open(self) -> None:
        """Connect (the database already exists and is filled)."""

    @abstractmethod
    async def close(self) -> None:
        """Disconnect and release everything."""

    @abstractmethod
    async def get(self, tid: str) -> Task | None:
        """The task with this id."""

    @abstractmethod
    async def upsert(self, task: Task) -> None:
        """Insert or update by id (the generated ``save``)."""

    @abstractmethod
    async def page(self, project: str, limit: int) -> Sequence[Task]:
        """First page of a project's tasks ordered by id."""

    @abstractmethod
    async def count(self, project: str) -> int:
        """Number of a project's tasks."""

    def bulk_variants(self) -> dict[str, BulkFn]:
        """Bulk append paths by label suffix; empty when there is none."""
        return {}
