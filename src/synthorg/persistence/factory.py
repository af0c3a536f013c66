"""Factory for creating persistence backends from configuration.

Each company gets its own backend instance, and so its own database,
selected by the :class:`PersistenceConfig` in its configuration. The factory
maps ``config.backend`` to a class through a
:class:`PersistenceBackendRegistry`, which imports the backend module only
now, so a SQLite-only deployment never imports psycopg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from synthorg.persistence.errors import PersistenceConnectionError
from synthorg.persistence.registry import (
    PersistenceBackendRegistry,
    default_registry,
)

if TYPE_CHECKING:
    from synthorg.persistence.config import PersistenceConfig
    from synthorg.persistence.protocol import PersistenceBackend

__all__ = ["create_backend", "default_registry"]


def create_backend(
    config: PersistenceConfig,
    *,
    registry: PersistenceBackendRegistry = default_registry,
) -> PersistenceBackend:
    """Create a new, disconnected persistence backend from ``config``.

    The caller is responsible for ``await backend.connect()`` and
    ``await backend.migrate()``.

    Example::

        config = PersistenceConfig(
            backend="sqlite",
            sqlite=SQLiteConfig(path="data/company-a.db"),
        )
        backend = create_backend(config)
        await backend.connect()
        await backend.migrate()

    Args:
        config: Backend selection plus backend-specific settings.
        registry: Where to look the backend name up; tests and plugins may
            pass their own.

    Returns:
        A new, disconnected backend instance.

    Raises:
        PersistenceConnectionError: If the backend name is not registered,
            its optional dependency is missing, or its settings are absent.
    """
    backend_cls = registry.load(config.backend)
    # Each backend takes its own settings block. Backends other than the two
    # built-ins (registered by plugins) get the whole config, since there is
    # no dedicated block for them.
    settings: object
    if config.backend == "sqlite":
        settings = config.sqlite
    elif config.backend == "postgres":
        if config.postgres is None:
            # PersistenceConfig's validator already refuses this; the check
            # covers configs built with ``model_construct`` (no validation).
            msg = "backend 'postgres' requires 'postgres' settings"
            raise PersistenceConnectionError(msg)
        settings = config.postgres
    else:
        settings = config
    # The registry returns a plain ``type``; the cast records the contract
    # that every registered class implements the PersistenceBackend protocol.
    return cast("PersistenceBackend", backend_cls(settings))
