"""The ``PersistenceBackend`` protocol: lifecycle plus repository access.

Application code depends on this protocol, never on a concrete backend. The
repository accessors come from the generated :class:`RepositoryAccessors`,
so a new entity in ``schema/`` is part of the protocol after
``make generate``.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

from synthorg.persistence.generated.repositories import RepositoryAccessors
from synthorg.persistence.migrations import MigrationStatus
from synthorg.persistence.services.escalations import EscalationQueue
from synthorg.persistence.services.lockouts import AuthConfig, LockoutRepository
from synthorg.persistence.services.ontology import OntologyVersioningService
from synthorg.persistence.types import NotBlankStr


class PersistenceBackend(RepositoryAccessors, Protocol):
    """Lifecycle management for operational data storage.

    Groups of calls: every repository call is atomic on its own. For a group
    that must be all-or-nothing use :meth:`transaction`::

        async with backend.transaction():
            await backend.tasks.save(task)
            await backend.users.save(user)

    :meth:`write_context` is a lock, not a transaction: calls in its block
    commit one by one, and a block that raises or is cancelled keeps those
    that completed.

    Not ``runtime_checkable``: its accessors raise before ``connect()``, so
    an ``isinstance`` check would fail on a perfectly good backend. mypy
    checks conformance statically.
    """

    @property
    def kind(self) -> Literal["sqlite", "postgres"]:
        """The backend discriminator: ``"sqlite"`` or ``"postgres"``."""
        ...

    @property
    def backend_name(self) -> NotBlankStr:
        """Human-readable backend identifier."""
        ...

    @property
    def is_connected(self) -> bool:
        """Whether the backend has an active connection."""
        ...

    async def connect(self) -> None:
        """Establish the connection; safe to call twice.

        Also compares the database's applied revisions with the code's (one
        query): if the database is behind, ahead of the code or holds an
        edited revision, every repository accessor raises
        :class:`SchemaVersionError` (not retryable) naming the revisions
        until a ``migrate()`` succeeds.

        Raises:
            PersistenceConnectionError: If the connection cannot be established.
        """
        ...

    async def disconnect(self) -> None:
        """Close the connection; safe to call twice."""
        ...

    async def health_check(self) -> bool:
        """Whether the backend is healthy and responsive."""
        ...

    async def migrate(self) -> None:
        """Bring the schema up to date.

        Raises:
            PersistenceConnectionError: If not connected.
            MigrationError: If a revision fails; the backend is unusable until
                a later ``migrate()`` succeeds.
        """
        ...

    async def migration_status(self) -> MigrationStatus:
        """The database's applied revisions against the code's (one query).

        Raises:
            PersistenceConnectionError: If not connected.
        """
        ...

    def instrument(
        self, *, logs: bool = True, tracing: bool = False, tracer_provider: Any = None
    ) -> None:
        """Record every repository call: a DEBUG log record and/or a span.

        Off by default (then the accessors hand out the generated
        repositories themselves); also on for logs when the
        ``synthorg.persistence.calls`` logger is at DEBUG at ``connect()``.
        ``tracing`` needs the ``otel`` extra. See docs/observability.md.
        """
        ...

    def get_db(self) -> Any:
        """The raw connection (SQLite) or pool (PostgreSQL).

        Raises:
            PersistenceConnectionError: If not yet connected.
        """
        ...

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """A fresh async context manager: the block's repository calls are one
        transaction, committed when the block ends, rolled back when it
        raises or is cancelled at any await.

        Every repository call made in the block by the same task (and by
        tasks it starts inside the block) joins the transaction; a nested
        ``transaction()`` is a savepoint (its failure undoes only its part,
        if the outer block catches the error). A cancellation propagates
        after the rollback; if it lands while COMMIT runs, the transaction
        is committed when COMMIT completed, else rolled back.

        SQLite: ``BEGIN IMMEDIATE`` under the backend's write lock, so other
        tasks' writes wait for the block and their reads see committed data
        only; keep blocks short. PostgreSQL: one pooled connection for the
        block (READ COMMITTED); other tasks proceed on their own connections.

        Raises:
            PersistenceConnectionError: If not connected (or after a failed
                ``migrate()``), or the connection is lost.
            PersistenceError: If BEGIN or COMMIT fails (mapped as any call).
        """
        ...

    def write_context(self) -> AbstractAsyncContextManager[None]:
        """A fresh async context manager: a lock, NOT a transaction.

        SQLite serialises writers on its single connection for the block
        (re-entrant within one task, so repository calls inside the block
        do not deadlock); PostgreSQL yields immediately because pooled
        connections are already isolated. Each call in the block commits on
        its own: a block that raises or is cancelled keeps the calls that
        completed. Use :meth:`transaction` for all-or-nothing.
        """
        ...

    def build_lockouts(self, auth_config: AuthConfig) -> LockoutRepository:
        """The login-lockout repository (one per connection; it caches locks).

        Raises:
            PersistenceConnectionError: If the backend is not connected.
        """
        ...

    def build_escalations(self, notify_channel: str | None = None) -> EscalationQueue:
        """An escalation queue; PostgreSQL publishes with NOTIFY, SQLite ignores it.

        Raises:
            PersistenceConnectionError: If the backend is not connected.
        """
        ...

    def build_ontology_versioning(self) -> OntologyVersioningService:
        """The ontology versioning service bound to this connection or pool.

        Raises:
            PersistenceConnectionError: If the backend is not connected.
        """
        ...

    async def get_setting(self, key: NotBlankStr) -> str | None:
        """A value from the ``_system`` settings namespace, or None."""
        ...

    async def set_setting(self, key: NotBlankStr, value: str) -> None:
        """Upsert a value in the ``_system`` settings namespace."""
        ...
