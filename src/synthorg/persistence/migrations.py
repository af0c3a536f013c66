"""Migration revisions and their status: the dialect-neutral half.

Revisions are the ``generated/migrations/<dialect>/NNNN_name.sql`` files the
generator writes from the YAML history. This module loads them
(:func:`load_revisions`), checksums them (SHA-256), and holds the one
comparison of a database's recorded revisions with the code's
(:func:`migration_status`); ``connect()`` uses it to withdraw the
repositories from a database that is behind, ahead or edited. A recorded
revision whose file changed, or a recorded revision this code does not
know, is refused with :class:`SchemaVersionError` (a
:class:`MigrationError`).

Applying revisions is each dialect's own (``sqlite/migrations.py``,
``postgres/migrations.py``): each revision in its own transaction, under a
lock so two processes migrating at once apply each revision once, recorded
in ``_synthorg_migrations``. The helpers they share (the statement
splitter, the failure message, the per-revision log line) are here.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from synthorg.persistence.errors import MigrationError, SchemaVersionError

logger = logging.getLogger(__name__)

MIGRATIONS_TABLE = "_synthorg_migrations"

CREATE_TABLE = (
    f'CREATE TABLE IF NOT EXISTS "{MIGRATIONS_TABLE}" ('
    " revision TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
)
"""The migrations table, the same on every dialect."""

SELECT_APPLIED = f'SELECT revision, checksum FROM "{MIGRATIONS_TABLE}"'
"""Applied revision -> checksum, as recorded."""

SELECT_RECORDS = f'SELECT revision, checksum, applied_at FROM "{MIGRATIONS_TABLE}"'
"""Every recorded revision with its checksum and ``applied_at``."""


def insert_revision(placeholder: str) -> str:
    """The INSERT recording a revision, with the dialect's ``placeholder``."""
    marks = ", ".join([placeholder] * 3)
    return f'INSERT INTO "{MIGRATIONS_TABLE}" VALUES ({marks})'


@dataclass(frozen=True)
class Revision:
    """One migration revision of one dialect."""

    name: str
    sql: str

    @functools.cached_property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def load_revisions(dialect: str, generated: Path | None = None) -> tuple[Revision, ...]:
    """The revisions of ``dialect`` in order (from ``generated`` if given)."""
    if generated is None:
        return _packaged_revisions(dialect)
    return _read_revisions(dialect, generated)


@functools.cache
def _packaged_revisions(dialect: str) -> tuple[Revision, ...]:
    # The installed package's files do not change while it runs: read once.
    return _read_revisions(dialect, None)


def _read_revisions(dialect: str, generated: Path | None) -> tuple[Revision, ...]:
    folder = (
        (
            resources.files("synthorg.persistence.generated")
            if generated is None
            else generated
        )
        / "migrations"
        / dialect
    )
    revisions = [
        Revision(name=item.name.removesuffix(".sql"), sql=item.read_text("utf-8"))
        for item in folder.iterdir()
        if item.name.endswith(".sql")
    ]
    return tuple(sorted(revisions, key=lambda r: r.name))


def revision_file(dialect: str, name: str) -> str:
    """The revision's file, as shipped: ``migrations/<dialect>/<name>.sql``."""
    return f"migrations/{dialect}/{name}.sql"


def _excerpt(statement: str, limit: int = 300) -> str:
    """A statement on one line, cut at ``limit`` characters, for an error."""
    flat = " ".join(
        line.strip()
        for line in statement.splitlines()
        if line.strip() and not line.strip().startswith("--")
    )
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def statement_failed(
    dialect: str, revision: Revision, index: int, statement: str, exc: Exception
) -> MigrationError:
    """The error of a failed statement: the file, which statement, the cause."""
    return MigrationError(
        f"revision {revision_file(dialect, revision.name)} failed at statement "
        f"{index} `{_excerpt(statement)}`: {type(exc).__name__}: {exc}"
    )


def log_applied(dialect: str, name: str, started: float) -> None:
    """One INFO line per applied revision, with its duration."""
    duration_ms = (time.perf_counter() - started) * 1000
    logger.info(
        "%s migration %s applied in %.1f ms",
        dialect,
        name,
        duration_ms,
        extra={
            "revision": name,
            "dialect": dialect,
            "duration_ms": duration_ms,
        },
    )


def now_text() -> str:
    """The ``applied_at`` of a revision recorded now (ISO 8601, UTC)."""
    return datetime.now(UTC).isoformat()


def split_sqlite(sql: str) -> list[str]:
    """Split a script into complete statements (sqlite3 knows where they end)."""
    statements: list[str] = []
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            if statement and not all(
                part.strip().startswith("--") or not part.strip()
                for part in statement.splitlines()
            ):
                statements.append(statement)
            pending = ""
    if pending.strip() and not all(
        part.strip().startswith("--") or not part.strip()
        for part in pending.splitlines()
    ):
        raise MigrationError(
            f"incomplete SQL statement at the end of a revision: {pending!r}"
        )
    return statements


def has_statements(sql: str) -> bool:
    """Whether a revision holds anything but comments (one dialect may not)."""
    return any(
        line.strip() and not line.strip().startswith("--") for line in sql.splitlines()
    )


@dataclass(frozen=True)
class MigrationStatus:
    """How a database's applied revisions compare with this code's.

    ``applied`` are the revisions recorded in the database (in order),
    ``pending`` the code's revisions it lacks, ``unknown`` the recorded
    revisions this code does not know (the database was migrated by newer
    code) and ``mismatched`` the recorded revisions whose checksum differs
    from the code's file (an applied revision was edited).
    """

    applied: tuple[str, ...]
    pending: tuple[str, ...]
    unknown: tuple[str, ...]
    mismatched: tuple[str, ...]

    @property
    def up_to_date(self) -> bool:
        """Whether the database is exactly at this code's revisions."""
        return not (self.pending or self.unknown or self.mismatched)

    def error(self) -> SchemaVersionError | None:
        """The error repository calls raise on this database, or None."""
        if self.up_to_date:
            return None
        return SchemaVersionError(
            pending=self.pending, unknown=self.unknown, mismatched=self.mismatched
        )


def migration_status(
    applied: Mapping[str, str], revisions: tuple[Revision, ...]
) -> MigrationStatus:
    """Compare ``applied`` (revision -> checksum, as recorded) with ``revisions``.

    The one place where "is this database at this code's schema?" is
    decided: ``connect()`` gates the repositories on it and ``migrate()``
    refuses unknown or edited revisions with it.
    """
    known = {r.name: r.checksum for r in revisions}
    return MigrationStatus(
        applied=tuple(sorted(applied)),
        pending=tuple(r.name for r in revisions if r.name not in applied),
        unknown=tuple(sorted(name for name in applied if name not in known)),
        mismatched=tuple(
            sorted(
                name
                for name, checksum in applied.items()
                if name in known and known[name] != checksum
            )
        ),
    )


def verify(applied: dict[str, str], revisions: tuple[Revision, ...]) -> None:
    """Refuse to migrate a database with unknown or edited revisions."""
    status = migration_status(applied, revisions)
    if status.unknown or status.mismatched:
        raise SchemaVersionError(unknown=status.unknown, mismatched=status.mismatched)
