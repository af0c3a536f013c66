"""Names of the generated unique constraints, for the error mappings.

A unique violation other than the primary key is reported as
:class:`ConstraintViolationError` naming the violated index, the same name
on both dialects. PostgreSQL gives it (``diag.constraint_name``); SQLite
only names the columns (``UNIQUE constraint failed: custom_rules.name``),
so the generated DDL is read once, on the first such error, to map
``(table, columns)`` to the index's name. The database holds exactly this
DDL: ``connect()`` refuses a database at other revisions. Strict inserts
(``append``, ``append_many``, ``insert`` kinds: "must not exist") keep
:class:`DuplicateRecordError` for every unique violation.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

_UNIQUE_INDEX = re.compile(
    r'^CREATE UNIQUE INDEX "(?P<name>[^"]+)" ON "(?P<table>[^"]+)" \((?P<cols>[^)]*)\)',
    re.MULTILINE,
)
_PRIMARY_KEY = re.compile(r'CONSTRAINT "(?P<name>[^"]+)" PRIMARY KEY')
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<cols>.+)$")
# TimescaleDB names a chunk's copy of a constraint "<hypertable id>_<n>_<name>".
_CHUNK_PREFIX = re.compile(r"^\d+_\d+_")


@functools.cache
def _names() -> tuple[dict[tuple[str, tuple[str, ...]], str], frozenset[str]]:
    ddl = (
        resources.files("synthorg.persistence.generated") / "ddl" / "sqlite.sql"
    ).read_text("utf-8")
    unique: dict[tuple[str, tuple[str, ...]], str] = {}
    for match in _UNIQUE_INDEX.finditer(ddl):
        columns = tuple(c.strip().strip('"') for c in match["cols"].split(","))
        unique.setdefault((match["table"], columns), match["name"])
    primary = frozenset(m["name"] for m in _PRIMARY_KEY.finditer(ddl))
    return unique, primary


def sqlite_unique_constraint(message: str) -> str:
    """The index name of SQLite's ``UNIQUE constraint failed: t.a, t.b`` message.

    Falls back to the message's stable ``t.a,t.b`` token for a table the
    generated schema does not declare.
    """
    match = _SQLITE_UNIQUE.search(message)
    if match is None:
        return ""
    qualified = [part.strip() for part in match["cols"].split(",")]
    table = qualified[0].partition(".")[0]
    columns = tuple(part.partition(".")[2] for part in qualified)
    name = _names()[0].get((table, columns))
    return name if name is not None else ",".join(qualified)


def is_primary_key(constraint: str) -> bool:
    """Whether a PostgreSQL constraint name is a table's primary key."""
    name = _CHUNK_PREFIX.sub("", constraint)
    return name in _names()[1] or name.startswith("pk_") or name.endswith("_pkey")


def postgres_unique_constraint(constraint: str) -> str:
    """The generated name of a PostgreSQL unique constraint (chunk prefix off)."""
    name = _CHUNK_PREFIX.sub("", constraint)
    return name if name in _names()[0].values() else constraint


def unique_is_duplicate(operation: str) -> bool:
    """Whether ``operation`` is a strict insert ("must not exist").

    There any unique violation is a :class:`DuplicateRecordError`, the same
    on both dialects whichever index the database happens to check first.
    """
    from synthorg.persistence.generated.manifest import STRICT_INSERTS

    return operation in STRICT_INSERTS
