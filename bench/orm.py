"""SQLAlchemy 2.0 async ORM over the same ``tasks`` table, used the usual way.

Declarative mappings of the same 24 columns (one per dialect, since JSON and
time are stored differently), one ``AsyncSession`` per operation, the
dialect's ``INSERT … ON CONFLICT DO UPDATE`` for upserts (the statement the
generated ``save`` sends), ORM bulk ``insert()`` for the bulk path, and
ORM object -> ``Task`` through one ``Task.model_validate`` per row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import (
    JSON,
    URL,
    BigInteger,
    DateTime,
    Double,
    Float,
    Integer,
    Text,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bench.common import FIELDS, BulkFn, Impl, pg_values
from synthorg.persistence._codec import dt_to_text, json_dumps
from synthorg.persistence.generated.tasks import Task

# ``metadata`` is reserved on declarative classes: the attribute is renamed.
_ATTRS: Final = tuple("metadata_" if f == "metadata" else f for f in FIELDS)


class UtcText(TypeDecorator[datetime]):
    """Aware datetime <-> the fixed-width UTC text the SQLite schema stores."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        return None if value is None else dt_to_text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)


class _Columns:
    """The columns both dialects map alike (declaration order of the table)."""

    id: Mapped[str] = mapped_column(Text, primary_key=True, sort_order=0)
    title: Mapped[str] = mapped_column(Text, sort_order=1)
    description: Mapped[str] = mapped_column(Text, sort_order=2)
    type: Mapped[str] = mapped_column(Text, sort_order=3)
    priority: Mapped[str] = mapped_column(Text, sort_order=4)
    project: Mapped[str] = mapped_column(Text, sort_order=5)
    created_by: Mapped[str] = mapped_column(Text, sort_order=6)
    assigned_to: Mapped[str | None] = mapped_column(Text, sort_order=7)
    estimated_complexity: Mapped[str] = mapped_column(Text, sort_order=12)
    status: Mapped[str] = mapped_column(Text, sort_order=16)
    parent_task_id: Mapped[str | None] = mapped_column(Text, sort_order=17)
    task_structure: Mapped[str | None] = mapped_column(Text, sort_order=19)
    coordination_topology: Mapped[str] = mapped_column(Text, sort_order=20)


class SqliteBase(DeclarativeBase):
    """Declarative base of the SQLite mapping."""


class PgBase(DeclarativeBase):
    """Declarative base of the PostgreSQL mapping."""


class SqliteTaskRow(_Columns, SqliteBase):
    """``tasks`` on SQLite: JSON as text, times as fixed-width UTC text."""

    __tablename__ = "tasks"

    reviewers: Mapped[list[str]] = mapped_column(JSON, sort_order=8)
    dependencies: Mapped[list[str]] = mapped_column(JSON, sort_order=9)
    artifacts_expected: Mapped[list[Any]] = mapped_column(JSON, sort_order=10)
    acceptance_criteria: Mapped[list[Any]] = mapped_column(JSON, sort_order=11)
    budget_limit: Mapped[float] = mapped_column(Float, sort_order=13)
    deadline: Mapped[datetime | None] = mapped_column(UtcText, sort_order=14)
    max_retries: Mapped[int] = mapped_column(Integer, sort_order=15)
    delegation_chain: Mapped[list[str]] = mapped_column(JSON, sort_order=18)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, sort_order=21)
    created_at: Mapped[datetime] = mapped_column(UtcText, sort_order=22)
    updated_at: Mapped[datetime] = mapped_column(UtcText, sort_order=23)


class PgTaskRow(_Columns, PgBase):
    """``tasks`` on PostgreSQL: JSONB and TIMESTAMPTZ."""

    __tablename__ = "tasks"

    reviewers: Mapped[list[str]] = mapped_column(JSONB, sort_order=8)
    dependencies: Mapped[list[str]] = mapped_column(JSONB, sort_order=9)
    artifacts_expected: Mapped[list[Any]] = mapped_column(JSONB, sort_order=10)
    acceptance_criteria: Mapped[list[Any]] = mapped_column(JSONB, sort_order=11)
    budget_limit: Mapped[float] = mapped_column(Double, sort_order=13)
    deadline: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), sort_order=14
    )
    max_retries: Mapped[int] = mapped_column(BigInteger, sort_order=15)
    delegation_chain: Mapped[list[str]] = mapped_column(JSONB, sort_order=18)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, sort_order=21)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), sort_order=22)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), sort_order=23)


Row = SqliteTaskRow | PgTaskRow


def to_task(obj: Row) -> Task:
    """ORM object -> Task: one validation, as a ``to_model()`` helper does."""
    return Task.model_validate(
        {f: getattr(obj, a) for f, a in zip(FIELDS, _ATTRS, strict=True)}
    )


def to_values(task: Task) -> dict[str, Any]:
    """Task -> ORM attribute values (the mapped types encode them)."""
    return dict(zip(_ATTRS, pg_values(task), strict=True))


class OrmImpl(Impl):
    """SQLAlchemy async ORM, one session per operation."""

    kind = "orm"

    def __init__(
        self,
        name: str,
        url: str | URL,
        row: type[SqliteTaskRow] | type[PgTaskRow],
        engine_kwargs: dict[str, Any],
        on_connect: Callable[[Any], None] | None = None,
    ) -> None:
        self.name = name
        self._url = url
        self._row = row
        self._engine_kwargs = engine_kwargs
        self._on_connect = on_connect
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        ins = (sqlite_insert if row is SqliteTaskRow else pg_insert)(row)
        self._upsert = ins.on_conflict_do_update(
            index_elements=["id"],
            set_={f: ins.excluded[f] for f in FIELDS[1:]},
        )

    async def open(self) -> None:
        """Create the engine (pooled) and the session factory."""
        engine = create_async_engine(
            self._url, json_serializer=json_dumps, **self._engine_kwargs
        )
        hook = self._on_connect
        if hook is not None:

            def _connect(dbapi_conn: Any, _record: Any) -> None:
                hook(dbapi_conn)

            event.listen(engine.sync_engine, "connect", _connect)
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def close(self) -> None:
        """Dispose of the engine's pool."""
        if self._engine is not None:
            await self._engine.dispose()

    def _session(self) -> AsyncSession:
        assert self._sessions is not None
        return self._sessions()

    async def get(self, tid: str) -> Task | None:
        """``session.get`` by primary key."""
        async with self._session() as session:
            obj = await session.get(self._row, tid)
            return None if obj is None else to_task(cast(Row, obj))

    async def upsert(self, task: Task) -> None:
        """``INSERT … ON CONFLICT DO UPDATE`` through the session, then commit."""
        async with self._session() as session:
            await session.execute(self._upsert, to_values(task))
            await session.commit()

    async def page(self, project: str, limit: int) -> Sequence[Task]:
        """``select(Row).where(project).order_by(id).limit().offset(0)``."""
        row = self._row
        stmt = (
            select(row)
            .where(row.project == project)
            .order_by(row.id)
            .limit(limit)
            .offset(0)
        )
        async with self._session() as session:
            objs = (await session.scalars(stmt)).all()
            return [to_task(cast(Row, o)) for o in objs]

    async def count(self, project: str) -> int:
        """``select(func.count()).where(project)``."""
        row = self._row
        stmt = select(func.count()).select_from(row).where(row.project == project)
        async with self._session() as session:
            return int(await session.scalar(stmt) or 0)

    def bulk_variants(self) -> dict[str, BulkFn]:
        """ORM bulk INSERT (``session.execute(insert(Row), [dicts])``)."""
        return {"bulk insert()": self._bulk}

    async def _bulk(self, tasks: Sequence[Task]) -> None:
        async with self._session() as session:
            await session.execute(insert(self._row), [to_values(t) for t in tasks])
            await session.commit()


def sqlite_pragmas(dbapi_conn: Any) -> None:
    """Same per-connection settings as the generated backend (WAL is per file)."""
    raw: sqlite3.Connection | Any = dbapi_conn
    cur = raw.cursor()
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA busy_timeout = 30000")
    cur.close()
