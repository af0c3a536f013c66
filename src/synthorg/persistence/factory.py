"""Factory for creating persistence backends from configuration.

Each company gets its own backend instance, and so its own database,
selected by the :class:`PersistenceConfig` in its configuration. The factory
maps ``config.backend`` to a class through a
:class:`PersistenceBackendRegistry`, which imports the backend module only
now, so a SQLite-only deployment never imports psycopg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from synthorg.persistence.dialects import find_dialect_runtime
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
    # Each built-in dialect takes its own settings block. Backends other
    # than the built-ins (registered by plugins) get the whole config, since
    # there is no dedicated block for them.
    runtime = find_dialect_runtime(config.backend)
    settings = config if runtime is None else runtime.settings(config)
    # The registry returns a plain ``type``; the cast records the contract
    # that every registered class implements the PersistenceBackend protocol.
    return cast("PersistenceBackend", backend_cls(settings))
