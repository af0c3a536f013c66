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

    JSON decode failures, validation errors and missing keys on committed
    rows are data-integrity problems: rereading returns the same corrupt row.

    Not retryable: investigate the source row instead.
    """

    is_retryable: ClassVar[bool] = False


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
