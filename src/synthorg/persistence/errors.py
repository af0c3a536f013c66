"""Persistence error hierarchy.

Every persistence failure derives from :class:`PersistenceError`, so callers
can catch the whole family with one ``except`` clause, and backends translate
driver exceptions (aiosqlite, psycopg) into these types at the boundary so
nothing above the persistence layer depends on a driver.

Each class carries an ``is_retryable`` class attribute. Code that implements
bounded retry with backoff (a repository middleware, a job runner) branches
on that flag instead of string-matching driver messages. The default is
``False``; only transient I/O failures (a dropped connection, an exhausted
pool, a deadlock surfacing as a query failure) override it to ``True``.
Deterministic failures that happen to be raised from a query
(constraint violations, version conflicts, corrupt rows) subclass
:class:`QueryError` for ``except QueryError`` compatibility but set the flag
back to ``False``: retrying them would only burn the retry budget.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

__all__ = [
    "ArtifactStorageFullError",
    "ArtifactTooLargeError",
    "ConstraintViolationError",
    "DuplicateRecordError",
    "InvalidValueError",
    "MalformedRowError",
    "MigrationError",
    "MixedCurrencyAggregationError",
    "PersistenceAuthenticationError",
    "PersistenceConnectionError",
    "PersistenceError",
    "PersistenceVersionConflictError",
    "QueryError",
    "RecordNotFoundError",
    "SchemaVersionError",
]

UNKNOWN_CONSTRAINT = "<unknown>"
"""Sentinel stored in :attr:`ConstraintViolationError.constraint` when blank."""


class PersistenceError(Exception):
    """Base class of every persistence-layer error.

    Not retryable by default: subclasses opt in when the failure is
    transient.
    """

    is_retryable: ClassVar[bool] = False


class PersistenceConnectionError(PersistenceError):
    """A backend connection cannot be established, is lost, or is unusable.

    Also raised for configuration-level failures that prevent a backend from
    being created at all (unknown backend name, missing optional driver),
    because to the caller they mean the same thing: no connection.

    Retryable: network drops, pool exhaustion and connect timeouts are
    usually transient.
    """

    is_retryable: ClassVar[bool] = True


class PersistenceAuthenticationError(PersistenceConnectionError):
    """The server refused the login: the same attempt will be refused again.

    A wrong password, an unknown role, no ``pg_hba.conf`` entry for the
    client (SQLSTATE class 28), or a database that does not exist (3D000).
    The message carries the server's reason, never the password.

    Not retryable: unlike a refused port or a server that is restarting,
    retrying with the same settings cannot succeed. A
    :class:`PersistenceConnectionError`, so ``except
    PersistenceConnectionError`` still catches it.
    """

    is_retryable: ClassVar[bool] = False


class MigrationError(PersistenceError):
    """A schema migration failed.

    Not retryable: a failed migration means schema drift or a logic bug,
    not a transient condition.
    """

    is_retryable: ClassVar[bool] = False


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(names)


class SchemaVersionError(MigrationError):
    """The database's applied revisions are not this code's revisions.

    Raised by every repository call on a backend whose database is behind
    (``pending`` revisions: run ``migrate()``), ahead of this code
    (``unknown`` revisions: the database was migrated by newer code) or
    holds an applied revision whose file changed (``mismatched``), and by
    ``migrate()`` for the last two. Running the code against such a schema
    could read or write the wrong columns, so nothing is attempted.

    Not retryable: the schema does not change by itself.
    """

    is_retryable: ClassVar[bool] = False

    def __init__(
        self,
        *,
        pending: Iterable[str] = (),
        unknown: Iterable[str] = (),
        mismatched: Iterable[str] = (),
    ) -> None:
        """Store the revision names and build the message from them."""
        self.pending: tuple[str, ...] = tuple(pending)
        self.unknown: tuple[str, ...] = tuple(unknown)
        self.mismatched: tuple[str, ...] = tuple(mismatched)
        parts: list[str] = []
        if self.unknown:
            parts.append(
                f"the database has revision(s) {_names(self.unknown)} that this "
                "code does not know: this code is older than the database "
                "(upgrade the code, or use a database migrated by this version)"
            )
        if self.mismatched:
            parts.append(
                f"revision(s) {_names(self.mismatched)} changed after they were "
                "applied (checksum mismatch): applied revisions must never be "
                "edited; restore the files this database was migrated with"
            )
        if self.pending:
            parts.append(
                f"the database is behind this code: pending revision(s) "
                f"{_names(self.pending)}; run migrate()"
            )
        super().__init__("; ".join(parts) or "database schema does not match")


class RecordNotFoundError(PersistenceError):
    """A requested record does not exist.

    Repository ``get`` methods return ``None`` on a miss; this is for
    operations whose contract is that the record must exist (strict
    ``update``, artifact retrieval).
    """

    is_retryable: ClassVar[bool] = False


class DuplicateRecordError(PersistenceError):
    """An insert targeted a key that already exists."""

    is_retryable: ClassVar[bool] = False


class QueryError(PersistenceError):
    """A query failed because of invalid parameters or a backend issue.

    Retryable by default: connection drops and deadlocks during a query
    surface here and are safe to retry. Deterministic failures use the
    subclasses below, which override the flag to ``False``.
    """

    is_retryable: ClassVar[bool] = True


class ConstraintViolationError(QueryError):
    """A database constraint (unique, check, foreign key, trigger) was violated.

    ``constraint`` names the violated constraint: the server-side name on
    PostgreSQL, a stable token parsed from the message on SQLite. Callers map
    it to a domain error without parsing error strings.

    A blank name is normalised to ``"<unknown>"`` rather than raising:
    a ``ValueError`` from ``__init__`` would escape ``except
    PersistenceError`` handlers at exactly the moment an error is being
    reported.

    Not retryable: the same input violates the same constraint again.
    """

    is_retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, constraint: str) -> None:
        """Store the message and the (normalised) constraint name."""
        super().__init__(message)
        self.constraint: str = (
            constraint if constraint and constraint.strip() else UNKNOWN_CONSTRAINT
        )


class InvalidValueError(ConstraintViolationError):
    """An argument or a field value was refused before anything was written.

    Raised for values the database could not store faithfully or that the
    read path would refuse: a bad page window, a naive datetime, an integer
    outside 64 bits, a float that is not finite, NUL or a lone surrogate in
    text, an entity built with ``model_construct`` that does not validate,
    a blank argument where the model requires text. ``constraint`` names
    what was wrong as ``"<entity>.<field>"`` (or the argument's name), so
    callers can branch on it without parsing the message.

    A :class:`ConstraintViolationError` because the reference files invalid
    parameters there; not retryable: the same value is refused again.
    """

    is_retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, field: str) -> None:
        """Store the message; ``field`` becomes the constraint token too."""
        super().__init__(message, constraint=field)
        self.field: str = self.constraint


class PersistenceVersionConflictError(QueryError):
    """An optimistic-concurrency version check failed.

    Not retryable at this layer: the caller must re-read, re-apply its change
    and resubmit with the fresh version; a blind retry would lose the racing
    write.
    """

    is_retryable: ClassVar[bool] = False


class MalformedRowError(QueryError):
    """A stored row cannot be turned back into its model.

    Raised for every way a committed row can be unreadable: invalid JSON in
    a JSON column, a value the model refuses (blank text, an unknown enum
    value, a number out of bounds, JSON of the wrong shape), a timestamp
    outside Python's years 1-9999 (PostgreSQL ``infinity``), text that is
    not valid UTF-8 or a BLOB where text is expected (SQLite). Rereading
    returns the same row, so it is a data-integrity problem, not a
    transient one.

    The message names the table, the row's key and the column(s)::

        tasks row 'id-1' column 'metadata': invalid JSON: Expecting value: ...
        settings row ('ns', 'k') columns 'value', 'updated_at': ...
        tasks row <unreadable key> column 'id': invalid UTF-8 text: ...

    and the same facts are attributes, for code that repairs or reports:

    - ``table``: the table (or version table) the row is in;
    - ``key``: the row's primary key (a tuple for a composite key), or
      None when the key itself cannot be read or is not known;
    - ``column``: the first column that cannot be read, or None when the
      failure is not tied to one column (a cross-field rule);
    - ``columns``: every column named by the failure, in table order.

    ``MalformedRowError(message)`` alone still works (the attributes are
    then None / empty).

    Not retryable: investigate and repair the source row instead.
    """

    is_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        key: object = None,
        column: str | None = None,
        columns: Iterable[str] = (),
    ) -> None:
        """Store the message and what it names (all optional)."""
        super().__init__(message)
        self.table: str | None = table
        self.key: object = key
        named = tuple(columns)
        if column is not None and column not in named:
            named = (column, *named)
        self.columns: tuple[str, ...] = named
        self.column: str | None = named[0] if named else None


class MixedCurrencyAggregationError(PersistenceError):
    """A cost aggregation matched rows in more than one currency.

    Summing amounts across currencies would produce a meaningless number, so
    the aggregation is refused; callers narrow their filter (or convert) and
    try again. ``currencies`` holds the distinct currency codes found,
    sorted so the message and attribute are deterministic.

    Not retryable: the same filter matches the same rows.
    """

    is_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str | None = None,
        *,
        currencies: Iterable[str],
    ) -> None:
        """Store the distinct, sorted currencies and build a default message."""
        self.currencies: tuple[str, ...] = tuple(sorted(set(currencies)))
        if message is None:
            message = "cannot aggregate costs across currencies: " + ", ".join(
                self.currencies
            )
        super().__init__(message)


class ArtifactTooLargeError(PersistenceError):
    """A single artifact exceeds the maximum allowed size."""

    is_retryable: ClassVar[bool] = False


class ArtifactStorageFullError(PersistenceError):
    """Total artifact storage would exceed its capacity."""

    is_retryable: ClassVar[bool] = False
