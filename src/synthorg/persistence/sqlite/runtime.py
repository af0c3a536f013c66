"""SQLite's runtime object: what dialect-neutral code asks of this dialect.

Registered in :mod:`synthorg.persistence.dialects`; see
:class:`~synthorg.persistence.dialects.DialectRuntime`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthorg.persistence.migrations import SELECT_RECORDS
from synthorg.persistence.sqlite.driver import fetch

if TYPE_CHECKING:
    from synthorg.persistence.config import PersistenceConfig, SQLiteConfig
    from synthorg.persistence.dialects import DialectRuntime
    from synthorg.persistence.protocol import PersistenceBackend


class SQLiteRuntime:
    """The SQLite dialect seen from dialect-neutral runtime code."""

    name = "sqlite"

    def settings(self, config: PersistenceConfig) -> SQLiteConfig:
        """The ``sqlite`` block."""
        return config.sqlite

    def describe(self, config: PersistenceConfig) -> str:
        """``sqlite <path>``."""
        return f"{config.backend} {config.sqlite.path}"

    def missing(self, config: PersistenceConfig) -> str | None:
        """A file path that does not exist (URIs and ``:memory:`` always do)."""
        path = config.sqlite.path
        if path.startswith("file:") or path == ":memory:" or Path(path).exists():
            return None
        return f"no SQLite database at {path!r}"

    async def applied_records(
        self, backend: PersistenceBackend
    ) -> dict[str, tuple[str, str]]:
        """The ``_synthorg_migrations`` rows (none when the table is missing)."""
        rows: list[Any]
        try:
            # The driver's fetch releases the statement on every path.
            rows = await fetch(backend.get_db(), SELECT_RECORDS)
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            rows = []
        return {str(r[0]): (str(r[1]), str(r[2])) for r in rows}

    async def drift(
        self, backend: PersistenceBackend, generated: Path | None
    ) -> list[str]:
        """Compare with the desired DDL built in an in-memory database."""
        from synthorg.persistence.drift import desired_ddl
        from synthorg.persistence.sqlite.drift import sqlite_drift

        return await sqlite_drift(backend.get_db(), desired_ddl(self.name, generated))

    async def drift_at(self, target: str, generated: Path | None) -> list[str]:
        """The drift of the file at ``target``, opened read-only."""
        import aiosqlite

        from synthorg.persistence.drift import desired_ddl
        from synthorg.persistence.sqlite.drift import sqlite_drift

        async with aiosqlite.connect(f"file:{target}?mode=ro", uri=True) as db:
            return await sqlite_drift(db, desired_ddl(self.name, generated))


RUNTIME = SQLiteRuntime()

if TYPE_CHECKING:  # mypy proves the runtime object is a DialectRuntime
    _conforms: DialectRuntime = RUNTIME
