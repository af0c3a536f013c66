"""Backend registry: maps a backend name to a lazily imported backend class.

The registry stores only *names* of modules and classes, never the classes
themselves, so importing it (and :mod:`synthorg.persistence.config`, which
validates backend names against it) costs nothing and never pulls in an
optional driver. A SQLite-only install therefore works without psycopg, and
the PostgreSQL backend is imported the first time someone asks for it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from synthorg.persistence.dialects import DIALECTS
from synthorg.persistence.errors import PersistenceConnectionError

__all__ = ["BackendEntry", "PersistenceBackendRegistry", "default_registry"]


@dataclass(frozen=True, slots=True)
class BackendEntry:
    """One registered backend.

    Attributes:
        name: Backend name as written in ``PersistenceConfig.backend``.
        module: Dotted path of the module defining the backend class.
        class_name: Name of the backend class inside ``module``.
        requires: Import names of optional distributions the backend needs
            (e.g. ``("psycopg", "psycopg_pool")``); checked before the
            backend module is imported so the error names the real culprit.
        install_hint: Command that installs the missing requirements.
    """

    name: str
    module: str
    class_name: str
    requires: tuple[str, ...] = ()
    install_hint: str | None = None


class PersistenceBackendRegistry:
    """A mapping of backend names to lazily imported backend classes."""

    def __init__(self) -> None:
        """Create an empty registry."""
        self._entries: dict[str, BackendEntry] = {}

    def register(
        self,
        name: str,
        module: str,
        class_name: str,
        *,
        requires: str | tuple[str, ...] | None = None,
        install_hint: str | None = None,
    ) -> None:
        """Register (or replace) a backend under ``name``.

        Args:
            name: Backend name.
            module: Dotted module path, imported only by :meth:`load`.
            class_name: Class to fetch from ``module``.
            requires: Import name(s) of optional distributions the backend
                needs, such as ``"psycopg"``.
            install_hint: Shell command telling the user how to install them.

        Raises:
            ValueError: If ``name``, ``module`` or ``class_name`` is blank.
        """
        for label, value in (
            ("name", name),
            ("module", module),
            ("class_name", class_name),
        ):
            if not value.strip():
                msg = f"backend {label} must not be blank"
                raise ValueError(msg)
        if requires is None:
            required: tuple[str, ...] = ()
        elif isinstance(requires, str):
            required = (requires,)
        else:
            required = tuple(requires)
        self._entries[name] = BackendEntry(
            name=name,
            module=module,
            class_name=class_name,
            requires=required,
            install_hint=install_hint,
        )

    def names(self) -> frozenset[str]:
        """Return the registered backend names."""
        return frozenset(self._entries)

    def __contains__(self, name: object) -> bool:
        """Return whether ``name`` is a registered backend name."""
        return name in self._entries

    def entry(self, name: str) -> BackendEntry:
        """Return the registration for ``name``.

        Raises:
            PersistenceConnectionError: If ``name`` is not registered.
        """
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(repr(n) for n in sorted(self._entries)) or "none"
            msg = f"unknown persistence backend {name!r}; registered: {known}"
            raise PersistenceConnectionError(msg) from None

    def load(self, name: str) -> type:
        """Import and return the backend class registered under ``name``.

        Raises:
            PersistenceConnectionError: If ``name`` is unknown, a required
                distribution or the backend module cannot be imported, or the
                module has no such class.
        """
        entry = self.entry(name)
        # Probe the optional drivers first: if psycopg is missing, the
        # ImportError raised deep inside the backend module would name some
        # internal import, whereas this names the package and the fix.
        for requirement in entry.requires:
            try:
                importlib.import_module(requirement)
            except ImportError as exc:
                raise PersistenceConnectionError(
                    _missing_message(entry, requirement)
                ) from exc
        try:
            module = importlib.import_module(entry.module)
        except ImportError as exc:
            # A third-party module missing from the backend's own imports is
            # a dependency problem; anything else (our own module missing or
            # broken) is reported as such rather than as an install hint.
            if exc.name and exc.name.partition(".")[0] != "synthorg":
                msg = _missing_message(entry, exc.name)
            else:
                msg = (
                    f"cannot import the {entry.name!r} backend ({entry.module}): {exc}"
                )
            raise PersistenceConnectionError(msg) from exc
        try:
            backend_cls = getattr(module, entry.class_name)
        except AttributeError as exc:
            msg = (
                f"the {entry.name!r} backend module {entry.module!r} "
                f"has no class {entry.class_name!r}"
            )
            raise PersistenceConnectionError(msg) from exc
        if not isinstance(backend_cls, type):
            msg = f"{entry.module}.{entry.class_name} is not a class"
            raise PersistenceConnectionError(msg)
        return backend_cls


def _missing_message(entry: BackendEntry, missing: str) -> str:
    """Build the 'backend needs X: <install hint>' message."""
    msg = f"the {entry.name!r} backend needs {missing}"
    if entry.install_hint:
        msg += f": {entry.install_hint}"
    return msg


default_registry = PersistenceBackendRegistry()
"""The registry used by the config validator and :func:`create_backend`."""

for _dialect in DIALECTS:
    default_registry.register(
        _dialect.name,
        f"{_dialect.package}.backend",
        _dialect.backend_class,
        requires=_dialect.requires,
        install_hint=_dialect.install_hint,
    )
