"""What both backends share: accessor gating and the ``_system`` settings.

Repositories exist only between ``connect()`` and ``disconnect()``, and not
after a failed ``migrate()``: every accessor goes through
:meth:`BackendBase._repositories`, which raises
:class:`PersistenceConnectionError` with the reason.
"""

from __future__ import annotations

from synthorg.persistence._codec import dt_to_text, utc_now
from synthorg.persistence.errors import PersistenceConnectionError
from synthorg.persistence.generated.repositories import (
    Repositories,
    RepositoryAccessorsMixin,
)
from synthorg.persistence.generated.settings import SettingRow
from synthorg.persistence.types import NotBlankStr

SYSTEM_NAMESPACE = "_system"
"""The settings namespace behind ``get_setting``/``set_setting``."""


class BackendBase(RepositoryAccessorsMixin):
    """Accessor gating and backend-level settings for a concrete backend."""

    _name: str = "backend"

    def __init__(self) -> None:
        self._repos: Repositories | None = None
        self._unusable_reason: str | None = None

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
            raise PersistenceConnectionError(
                f"{self._name} backend is not connected; call connect() first"
            )
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
