"""What every backend shares: the lifecycle, accessor gating, ``_system`` settings.

``connect()``, ``disconnect()`` and ``migrate()`` are written once, here
(template methods): the flow, the lifecycle lock, closing what a failed or
cancelled ``connect()`` had opened, the gating after a failed
``migrate()``, the schema check and the log lines. A dialect's backend
supplies the small steps: :meth:`BackendBase._open` (open),
:meth:`BackendBase._prepare` (configure, read the applied revisions),
:meth:`BackendBase._abandon` and :meth:`BackendBase._close` (close what
was opened),
:meth:`BackendBase._attach`/:meth:`BackendBase._detach` (keep or let go of
the handle), :meth:`BackendBase._apply_revisions`,
:meth:`BackendBase._applied` and :meth:`BackendBase._build_repositories`.

Repositories exist only between ``connect()`` and ``disconnect()``, and not
after a failed ``migrate()``: every accessor goes through
:meth:`BackendBase._repositories`, which raises
:class:`PersistenceConnectionError` with the reason.

Nor on a database whose schema is not this code's: ``connect()`` reads the
applied revisions (one query) and compares them with the code's
(:func:`~synthorg.persistence.migrations.migration_status`); a database
that is behind, ahead of the code, or holds an edited revision gets
:class:`SchemaVersionError` (non-retryable) from every accessor until a
``migrate()`` succeeds. Without this, code ahead of its database would
read a renamed column's name as its value on SQLite.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Generic, TypeVar

from synthorg.persistence._codec import dt_to_text, utc_now
from synthorg.persistence.errors import (
    MigrationError,
    PersistenceConnectionError,
    PersistenceError,
    SchemaVersionError,
)
from synthorg.persistence.generated.repositories import (
    Repositories,
    RepositoryAccessorsMixin,
)
from synthorg.persistence.generated.settings import SettingRow
from synthorg.persistence.migrations import (
    MigrationStatus,
    Revision,
    migration_status,
)
from synthorg.persistence.observability import (
    DB_SYSTEMS,
    Instrumentation,
    debug_logging_enabled,
    get_tracer,
    instrument_repositories,
    unwrap,
)
from synthorg.persistence.services.escalations import EscalationQueue, Notifier
from synthorg.persistence.services.lockouts import AuthConfig, LockoutRepository
from synthorg.persistence.services.ontology import OntologyVersioningService
from synthorg.persistence.types import NotBlankStr

SYSTEM_NAMESPACE = "_system"
"""The settings namespace behind ``get_setting``/``set_setting``."""

H = TypeVar("H")
"""What a dialect's ``_open()`` opens: a connection set, a pool."""


class BackendBase(RepositoryAccessorsMixin, Generic[H]):
    """Lifecycle, accessor gating, settings and the ``build_*`` services."""

    _name: str = "backend"
    # Per-call observability (observability.py): None = decided at connect()
    # by the calls logger's level; set by instrument().
    _instrument_logs: bool | None = None
    _tracer: Any = None

    def __init__(self) -> None:
        self._repos: Repositories | None = None
        self._unusable_reason: str | None = None
        # Set by connect() when the database is not at this code's revisions
        # (and by a migrate() refused for unknown or edited revisions).
        self._schema_error: SchemaVersionError | None = None
        self._lockouts: LockoutRepository | None = None
        # Serialises connect()/disconnect(): overlapping connect() calls would
        # otherwise each open a connection and leak all but the last.
        self._lifecycle_lock = asyncio.Lock()

    # ------------------------------------------------------------- lifecycle

    @property
    def _logger(self) -> logging.Logger:
        # The dialect's module logger: log records keep their source.
        return logging.getLogger(type(self).__module__)

    async def connect(self) -> None:
        """Open the database and check its revisions; a second call does nothing.

        Whatever a failed or cancelled ``connect()`` had opened is closed
        before the error (or the cancel) propagates.
        """
        async with self._lifecycle_lock:
            if self.is_connected:
                return
            handle = await self._open()
            try:
                # One query: is the database at this code's revisions?
                applied = await self._prepare(handle)
            except BaseException:
                # Failed or cancelled: close what was opened (its threads or
                # workers would otherwise live on), then let it through.
                await self._abandon(handle)
                raise
            self._attach(handle)
            # A failed migrate() keeps the backend unusable across reconnects,
            # until a later migrate() succeeds.
            self._repos = None if self._unusable_reason else self._build()
            self._check_schema(applied)
            self._logger.info("%s backend connected (%s)", self._name, self._where())

    async def disconnect(self) -> None:
        """Close the connection or pool; a second call does nothing."""
        async with self._lifecycle_lock:
            handle = self._detach()
            self._clear_state()
            if handle is None:
                return
            await self._close(handle)
            self._logger.info("%s backend disconnected", self._name)

    async def migrate(self) -> None:
        """Apply pending revisions; on failure the repositories are withdrawn.

        After a failed migration the accessors raise until a later
        ``migrate()`` succeeds, so nothing runs against a half-migrated
        schema.
        """
        try:
            applied = await self._apply_revisions()
        except MigrationError as exc:
            self._migration_failed(exc)
            raise
        self._migrated(self._build())
        if applied:
            self._logger.info(
                "%s migrations applied: %s", self._name, ", ".join(applied)
            )

    async def _read_applied(self) -> dict[str, str]:
        """The recorded revisions; driver errors mapped (``migration_status``)."""
        try:
            return await self._applied()
        except Exception as exc:
            mapped = self._map_driver_error(exc, "migration_status")
            if mapped is None:
                raise
            raise mapped from exc

    def _build(self) -> Repositories:
        return self._instrumented(self._build_repositories())

    # Dialect hooks of the lifecycle.
    async def _open(self) -> H:
        """Open the connection or pool.

        Raises the dialect's connection error; what it opened before
        failing (or being cancelled) it closes itself.
        """
        raise NotImplementedError

    async def _prepare(self, handle: H) -> dict[str, str]:
        """Configure ``handle``; the revisions the database recorded.

        Raises the dialect's connection error (driver errors mapped); the
        base then closes the handle (:meth:`_abandon`).
        """
        raise NotImplementedError

    async def _abandon(self, handle: H) -> None:
        """Close the handle of a failed or cancelled ``connect()``."""
        await self._close(handle)

    def _attach(self, handle: H) -> None:
        """Keep ``handle``: from now on the backend is connected."""
        raise NotImplementedError

    def _detach(self) -> H | None:
        """Let go of the handle (None when not connected)."""
        raise NotImplementedError

    async def _close(self, handle: H) -> None:
        """Close a detached handle (at ``disconnect()``)."""
        raise NotImplementedError

    def _where(self) -> str:
        """Where the database is, for the connect log line."""
        raise NotImplementedError

    async def _apply_revisions(self) -> list[str]:
        """Apply the pending revisions; the names applied.

        Raises:
            PersistenceConnectionError: If the backend is not connected.
            MigrationError: A revision failed or the schema was refused.
        """
        raise NotImplementedError

    async def _applied(self) -> dict[str, str]:
        """The revisions the database recorded (raw driver errors)."""
        raise NotImplementedError

    def _build_repositories(self) -> Repositories:
        """The generated repositories on the open handle."""
        raise NotImplementedError

    # Dialect hooks: one transaction that repository calls join, the mapping
    # of the driver's errors raised by BEGIN/COMMIT, and the NOTIFY
    # publisher (PostgreSQL only).
    def _transaction(self) -> AbstractAsyncContextManager[object]:
        raise NotImplementedError

    def _map_driver_error(
        self, exc: Exception, operation: str
    ) -> PersistenceError | None:
        """The persistence error for a raw driver error (None: not one)."""
        return None

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """All-or-nothing for a group of repository calls (see the Protocol).

        Raises:
            PersistenceConnectionError: If the backend is not connected.
        """
        self._repositories()  # connected, and not after a failed migrate()
        return self._guarded_transaction(self._transaction())

    @asynccontextmanager
    async def _guarded_transaction(
        self, inner: AbstractAsyncContextManager[object]
    ) -> AsyncIterator[None]:
        try:
            async with inner:
                yield
        except Exception as exc:
            # BEGIN, COMMIT or the checkout failed: a persistence error.
            # Everything else (the block's own errors) passes unchanged.
            mapped = self._map_driver_error(exc, "transaction")
            if mapped is None:
                raise
            raise mapped from exc

    def _notifier(self) -> Notifier | None:
        return None

    # ------------------------------------------------------- observability

    def instrument(
        self,
        *,
        logs: bool = True,
        tracing: bool = False,
        tracer_provider: Any = None,
    ) -> None:
        """Record every repository call: a DEBUG log record and/or a span.

        ``logs`` writes one DEBUG record per call on the
        ``synthorg.persistence.calls`` logger; ``tracing`` starts one
        OpenTelemetry span per call (needs the ``otel`` extra) from
        ``tracer_provider`` or the global provider. Takes effect at once
        when connected and on every later ``connect()``;
        ``instrument(logs=False)`` switches everything off again, and the
        backend hands out the generated repositories themselves. See
        docs/observability.md.
        """
        self._instrument_logs = logs
        self._tracer = get_tracer(tracer_provider) if tracing else None
        if self._repos is not None:
            self._repos = self._instrumented(self._repos)
            self._lockouts = None  # rebuilt on the instrumented repositories

    def _instrumented(self, repos: Repositories) -> Repositories:
        """The repositories a connect()/migrate() hands out (wrapped or not)."""
        logs = self._instrument_logs
        if logs is None:
            logs = debug_logging_enabled()
        if not logs and self._tracer is None:
            return unwrap(repos)  # the generated objects themselves
        config = getattr(self, "config", None)
        namespace = getattr(config, "database", None) or getattr(config, "path", "")
        return instrument_repositories(
            repos,
            Instrumentation(
                logs=logs,
                tracer=self._tracer,
                system=DB_SYSTEMS.get(self._name, self._name),
                namespace=str(namespace),
            ),
        )

    def _clear_state(self) -> None:
        """Forget per-connection state (on disconnect)."""
        self._repos = None
        self._lockouts = None
        self._schema_error = None

    # Schema revisions: the dialect reads what the database recorded.
    def _revisions(self) -> tuple[Revision, ...]:
        raise NotImplementedError

    async def migration_status(self) -> MigrationStatus:
        """The database's applied revisions compared with this code's.

        ``pending`` revisions are applied by ``migrate()``; ``unknown`` ones
        mean the database was migrated by newer code; ``mismatched`` ones
        were edited after they were applied. One query.

        Raises:
            PersistenceConnectionError: If the backend is not connected.
        """
        return migration_status(await self._read_applied(), self._revisions())

    def _check_schema(self, applied: dict[str, str]) -> None:
        """At connect: withdraw the repositories unless the schema is ours."""
        self._schema_error = migration_status(applied, self._revisions()).error()
        if self._schema_error is not None:
            self._repos = None

    def _migration_failed(self, exc: MigrationError) -> None:
        """After a failed migrate(): nothing runs until one succeeds."""
        self._repos = None
        self._unusable_reason = f"the last migrate() failed: {exc}"
        # The newest knowledge wins: a refused schema names its revisions,
        # any other failure gates with its own reason.
        self._schema_error = exc if isinstance(exc, SchemaVersionError) else None

    def _migrated(self, repos: Repositories) -> None:
        """After a successful migrate(): the schema is this code's."""
        self._repos = repos
        self._unusable_reason = None
        self._schema_error = None

    def build_lockouts(self, auth_config: AuthConfig) -> LockoutRepository:
        """The lockout repository, one per connection and policy.

        It keeps no state of its own (the database is the truth, so several
        processes sharing it agree); one instance per connection keeps one
        policy per connection.

        Raises:
            PersistenceConnectionError: If the backend is not connected.
        """
        repos = self._repositories()
        if self._lockouts is None:
            self._lockouts = LockoutRepository(
                auth_config, repos.login_failures, repos.lockouts
            )
        elif self._lockouts.config != auth_config:
            # One policy per connection: silently keeping the old policy
            # would be worse than refusing.
            raise ValueError(
                "build_lockouts: already built with another AuthConfig on this "
                "connection; reconnect to change the policy"
            )
        return self._lockouts

    def build_escalations(self, notify_channel: str | None = None) -> EscalationQueue:
        """An escalation queue; PostgreSQL publishes enqueues on ``notify_channel``.

        Raises:
            PersistenceConnectionError: If the backend is not connected.
        """
        if notify_channel is not None and not (
            0 < len(notify_channel.encode("utf-8")) <= 63
        ):
            raise ValueError("notify_channel must be 1 to 63 bytes (a PostgreSQL name)")
        repos = self._repositories()
        return EscalationQueue(
            repos.escalations, self.transaction, notify_channel, self._notifier()
        )

    def build_ontology_versioning(self) -> OntologyVersioningService:
        """The ontology versioning service on this backend's connection or pool.

        Raises:
            PersistenceConnectionError: If the backend is not connected.
        """
        return OntologyVersioningService(self._repositories().ontology_versions)

    @property
    def is_connected(self) -> bool:
        """Whether the backend holds an open connection or pool."""
        raise NotImplementedError

    def _repositories(self) -> Repositories:
        if self._repos is None:
            schema_error = self._schema_error
            if self.is_connected and schema_error is not None:
                # A fresh instance per call (a shared one would accumulate
                # tracebacks), naming the same revisions.
                raise SchemaVersionError(
                    pending=schema_error.pending,
                    unknown=schema_error.unknown,
                    mismatched=schema_error.mismatched,
                )
            if self.is_connected and self._unusable_reason:
                # Not retryable: only a successful migrate() ungates.
                raise MigrationError(
                    f"{self._name} backend is unusable: {self._unusable_reason}; "
                    "run migrate() again once the cause is fixed"
                )
            raise self._not_connected()
        return self._repos

    def _not_connected(self) -> PersistenceConnectionError:
        return PersistenceConnectionError(
            f"{self._name} backend is not connected; call connect() first"
        )

    async def get_setting(self, key: NotBlankStr) -> str | None:
        """The value of ``key`` in the ``_system`` settings namespace, or None."""
        row = await self.settings.get((SYSTEM_NAMESPACE, key))
        return None if row is None else row.value

    async def set_setting(self, key: NotBlankStr, value: str) -> None:
        """Upsert ``key`` in the ``_system`` settings namespace."""
        await self.settings.save(
            SettingRow(
                namespace=SYSTEM_NAMESPACE,
                key=key,
                value=value,
                updated_at=dt_to_text(utc_now()),
            )
        )
