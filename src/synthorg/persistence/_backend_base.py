"""What both backends share: accessor gating and the ``_system`` settings.

Repositories exist only between ``connect()`` and ``disconnect()``, and not
after a failed ``migrate()``: every accessor goes through
:meth:`BackendBase._repositories`, which raises
:class:`PersistenceConnectionError` with the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from synthorg.persistence._codec import dt_to_text, utc_now
from synthorg.persistence.errors import PersistenceConnectionError, PersistenceError
from synthorg.persistence.generated.repositories import (
    Repositories,
    RepositoryAccessorsMixin,
)
from synthorg.persistence.generated.settings import SettingRow
from synthorg.persistence.services.escalations import EscalationQueue, Notifier
from synthorg.persistence.services.lockouts import AuthConfig, LockoutRepository
from synthorg.persistence.services.ontology import OntologyVersioningService
from synthorg.persistence.types import NotBlankStr

SYSTEM_NAMESPACE = "_system"
"""The settings namespace behind ``get_setting``/``set_setting``."""


class BackendBase(RepositoryAccessorsMixin):
    """Accessor gating, settings and the ``build_*`` services of a backend."""

    _name: str = "backend"

    def __init__(self) -> None:
        self._repos: Repositories | None = None
        self._unusable_reason: str | None = None
        self._lockouts: LockoutRepository | None = None

    # Dialect hooks: one transaction that repository calls join, the mapping
    # of the driver's errors raised by BEGIN/COMMIT, and the NOTIFY
    # publisher (PostgreSQL only).
    def _transaction(self) -> AbstractAsyncContextManager[object]:
        raise NotImplementedError

    def _map_driver_error(self, exc: Exception) -> PersistenceError | None:
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
            mapped = self._map_driver_error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def _notifier(self) -> Notifier | None:
        return None

    def _clear_state(self) -> None:
        """Forget per-connection state (on disconnect)."""
        self._repos = None
        self._lockouts = None

    def build_lockouts(self, auth_config: AuthConfig) -> LockoutRepository:
        """The lockout repository, built once per connection (it caches locks).

        Raises:
            PersistenceConnectionError: If the backend is not connected.
        """
        repos = self._repositories()
        if self._lockouts is None:
            self._lockouts = LockoutRepository(
                auth_config, repos.login_failures, repos.lockouts
            )
        elif self._lockouts.config != auth_config:
            # One instance per connection holds the lock cache; silently
            # keeping the old policy would be worse than refusing.
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
            if self.is_connected and self._unusable_reason:
                raise PersistenceConnectionError(
                    f"{self._name} backend is unusable: {self._unusable_reason}"
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
