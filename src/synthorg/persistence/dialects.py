"""The dialect registry: every built-in dialect, and its runtime object by name.

A dialect is a package (``synthorg.persistence.<name>``) holding its backend
class (``backend.py``) and a :class:`DialectRuntime` object, ``RUNTIME`` in
its ``runtime.py``: what the dialect-neutral code (the factory, the drift
check, the command line, the test plugin) asks of a dialect instead of
branching on its name. :data:`DIALECTS` is the one list of them: adding a
dialect is one package plus one line here.

Nothing is imported until asked for: the backend registry
(:mod:`synthorg.persistence.registry`) reads only the names below, and
:func:`dialect_runtime` imports a runtime module on first use, so a
SQLite-only deployment never imports psycopg.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from synthorg.persistence.config import PersistenceConfig
    from synthorg.persistence.protocol import PersistenceBackend


@dataclass(frozen=True, slots=True)
class Dialect:
    """One built-in dialect: where its package is and what it needs installed.

    Attributes:
        name: The backend name (``PersistenceConfig.backend``) and the
            folder of its generated code and migrations.
        package: Dotted path of the dialect package.
        backend_class: The backend class in ``<package>.backend``.
        requires: Import names of optional distributions it needs.
        install_hint: Command that installs them.
    """

    name: str
    package: str
    backend_class: str
    requires: tuple[str, ...] = ()
    install_hint: str | None = None


DIALECTS: tuple[Dialect, ...] = (
    Dialect("sqlite", "synthorg.persistence.sqlite", "SQLitePersistenceBackend"),
    Dialect(
        "postgres",
        "synthorg.persistence.postgres",
        "PostgresPersistenceBackend",
        requires=("psycopg", "psycopg_pool"),
        install_hint="pip install 'synthorg-persistence[postgres]'",
    ),
)
"""The built-in dialects; registered as backends in the default registry."""

_BY_NAME = {d.name: d for d in DIALECTS}


class DialectRuntime(Protocol):
    """What dialect-neutral runtime code asks of a dialect."""

    @property
    def name(self) -> str:
        """The dialect's name (``"sqlite"``, ``"postgres"``)."""
        ...

    def settings(self, config: PersistenceConfig) -> object:
        """The settings block the backend class is built from."""
        ...

    def describe(self, config: PersistenceConfig) -> str:
        """Where the database is, for people (never the password)."""
        ...

    def missing(self, config: PersistenceConfig) -> str | None:
        """Why there is no database to open without creating one, or None."""
        ...

    async def applied_records(
        self, backend: PersistenceBackend
    ) -> dict[str, tuple[str, str]]:
        """Revision -> (checksum, applied_at) as recorded (empty: never migrated)."""
        ...

    async def drift(
        self, backend: PersistenceBackend, generated: Path | None
    ) -> list[str]:
        """Where the connected database differs from the generated schema."""
        ...

    async def drift_at(self, target: str, generated: Path | None) -> list[str]:
        """The drift of the database at ``target`` (a path or a DSN), read-only."""
        ...


def find_dialect_runtime(name: str) -> DialectRuntime | None:
    """The runtime of the built-in dialect ``name``; None for other backends."""
    if name not in _BY_NAME:
        return None
    return dialect_runtime(name)


@functools.cache
def dialect_runtime(name: str) -> DialectRuntime:
    """The runtime of the built-in dialect ``name`` (imported on first use).

    Raises:
        KeyError: ``name`` is not a built-in dialect.
    """
    module = importlib.import_module(f"{_BY_NAME[name].package}.runtime")
    runtime: DialectRuntime = module.RUNTIME
    return runtime
