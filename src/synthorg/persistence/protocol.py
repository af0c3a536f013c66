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

    def get_db(self) -> Any:
        """The raw connection (SQLite) or pool (PostgreSQL).

        Raises:
            PersistenceConnectionError: If not yet connected.
        """
        ...

    def write_context(self) -> AbstractAsyncContextManager[None]:
        """A fresh async context manager around mutating SQL.

        SQLite serialises writers on its single connection (re-entrant within
        one task, so repository calls inside the block join it); PostgreSQL
        yields immediately because pooled connections are already isolated.
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
