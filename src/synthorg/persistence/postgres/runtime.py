"""PostgreSQL's runtime object: what dialect-neutral code asks of this dialect.

Registered in :mod:`synthorg.persistence.dialects`; see
:class:`~synthorg.persistence.dialects.DialectRuntime`. Importing it does
not import psycopg (the methods that talk to the server do).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthorg.persistence.errors import PersistenceConnectionError
from synthorg.persistence.migrations import SELECT_RECORDS

if TYPE_CHECKING:
    from synthorg.persistence.config import PersistenceConfig, PostgresConfig
    from synthorg.persistence.dialects import DialectRuntime
    from synthorg.persistence.protocol import PersistenceBackend


class PostgresRuntime:
    """The PostgreSQL dialect seen from dialect-neutral runtime code."""

    name = "postgres"

    def settings(self, config: PersistenceConfig) -> PostgresConfig:
        """The ``postgres`` block (required)."""
        if config.postgres is None:
            # PersistenceConfig's validator already refuses this; the check
            # covers configs built with ``model_construct`` (no validation).
            msg = "backend 'postgres' requires 'postgres' settings"
            raise PersistenceConnectionError(msg)
        return config.postgres

    def describe(self, config: PersistenceConfig) -> str:
        """``postgres user@host:port/database`` (no password)."""
        pg = config.postgres
        if pg is None:
            return f"{config.backend} {config.sqlite.path}"
        return f"postgres {pg.username}@{pg.host}:{pg.port}/{pg.database}"

    def missing(self, config: PersistenceConfig) -> str | None:
        """Never known before connecting: the server says."""
        return None

    async def applied_records(
        self, backend: PersistenceBackend
    ) -> dict[str, tuple[str, str]]:
        """The ``_synthorg_migrations`` rows (none when the table is missing)."""
        from psycopg import errors as pg_errors

        rows: list[Any]
        async with backend.get_db().connection() as conn:
            try:
                cur = await conn.execute(SELECT_RECORDS.encode())
                rows = list(await cur.fetchall())
            except pg_errors.UndefinedTable:
                rows = []
        return {str(r[0]): (str(r[1]), str(r[2])) for r in rows}

    async def drift(
        self, backend: PersistenceBackend, generated: Path | None
    ) -> list[str]:
        """Compare with the desired DDL built in a rolled-back scratch schema.

        With TimescaleDB enabled the hypertables' primary keys are not
        compared (their key is widened by the time column; see
        ``hypertable_statements``).
        """
        from synthorg.persistence.drift import desired_ddl
        from synthorg.persistence.postgres.drift import postgres_drift
        from synthorg.persistence.postgres.migrations import timeseries

        config = getattr(backend, "config", None)
        skip = (
            frozenset(timeseries())
            if getattr(config, "enable_timescaledb", False)
            else frozenset()
        )
        ddl = desired_ddl(self.name, generated)
        async with backend.get_db().connection() as conn:
            return await postgres_drift(conn, ddl, skip)

    async def drift_at(self, target: str, generated: Path | None) -> list[str]:
        """The drift of the database at the DSN ``target``."""
        import psycopg

        from synthorg.persistence.drift import desired_ddl
        from synthorg.persistence.postgres.drift import postgres_drift

        async with await psycopg.AsyncConnection.connect(
            target, autocommit=True
        ) as conn:
            return await postgres_drift(conn, desired_ddl(self.name, generated))


RUNTIME = PostgresRuntime()

if TYPE_CHECKING:  # mypy proves the runtime object is a DialectRuntime
    _conforms: DialectRuntime = RUNTIME
