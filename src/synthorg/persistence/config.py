"""Persistence configuration models.

Frozen pydantic models for backend selection and backend-specific settings.
Every model forbids unknown keys (a typo in a config file fails loudly
instead of silently falling back to a default) and refuses ``inf``/``nan``
floats (an infinite timeout is a hang, not a setting).

Credentials are carried as :class:`~pydantic.SecretStr`, so they are
redacted from ``repr``, ``str``, logs and pydantic serialisation. The
PostgreSQL backend unwraps the password only inside the connection attempt
itself (it never sits in the pool's keyword arguments); a config holding a
password refuses to be pickled, and a JSON dump that masked the password
refuses to load back (see :class:`PostgresConfig`).
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, Literal, NoReturn
from urllib.parse import unquote

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)

from synthorg.persistence.registry import default_registry
from synthorg.persistence.types import NotBlankStr

__all__ = [
    "PersistenceConfig",
    "PostgresConfig",
    "PostgresSslMode",
    "SQLiteConfig",
]

PostgresSslMode = Literal[
    "disable", "allow", "prefer", "require", "verify-ca", "verify-full"
]
"""The libpq ``sslmode`` values."""

_MODEL_CONFIG = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

_MIB = 1024 * 1024

SECRET_MASK = "**********"
"""What pydantic writes for a ``SecretStr`` in JSON; refused as a password."""

REVEAL_SECRETS = "reveal_secrets"
"""Serialisation context key: ``model_dump_json(context={REVEAL_SECRETS: True})``
writes the real password (for a config file the caller protects)."""

# C0 controls, DEL and C1 controls: never part of a host, role, database or
# application name, and a newline or NUL there is an injection or a typo.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# ``<positive integer> <unit>``: nothing else. The digit cap keeps the number
# inside PostgreSQL's int range; ASCII-only so no exotic digits or spaces
# slip through; ``fullmatch`` so a trailing newline is refused too.
_CHUNK_INTERVAL_RE = re.compile(
    r"[1-9][0-9]{0,8} "
    r"(?:microsecond|millisecond|second|minute|hour|day|week|month|year)s?",
    re.ASCII,
)


class SQLiteConfig(BaseModel):
    """SQLite-specific persistence configuration.

    Attributes:
        path: Database file path, relative or absolute. ``":memory:"`` and
            ``"file::memory:?cache=shared"``-style URIs are accepted too.
            Paths with a ``..`` component are refused.
        wal_mode: Enable WAL journal mode for file databases (concurrent
            readers alongside the single writer). Ignored for in-memory
            databases, which cannot use WAL.
        journal_size_limit: Upper bound on the WAL file size in bytes
            (``PRAGMA journal_size_limit``); default 64 MiB.
    """

    model_config = _MODEL_CONFIG

    path: NotBlankStr = "synthorg.db"
    wal_mode: bool = True
    journal_size_limit: int = Field(default=64 * _MIB, ge=0)
    inline_point_reads: bool = True
    """Run key/unique point reads on the event loop thread (file + WAL only).

    Beyond the reference: a point read costs ~20 µs in SQLite but ~60-150 µs
    through a thread hop; see docs/benchmarks.md for the bound and fallback.
    """

    @field_validator("path")
    @classmethod
    def _reject_traversal(cls, value: str) -> str:
        """Refuse paths that climb out of their directory with ``..``.

        Paths often come from per-company config, so a ``..`` component
        could point one tenant's database at another tenant's file. Both
        separators are checked because a config written on Windows may be
        read on POSIX and vice versa. ``file:`` URIs are percent-decoded
        first, since SQLite decodes them before opening (``%2e%2e`` is
        ``..``).
        """
        if "\x00" in value:
            # SQLite would silently truncate at the NUL byte.
            msg = "path must not contain NUL bytes"
            raise ValueError(msg)
        candidate = value
        if candidate.startswith("file:"):
            # Keep only the URI's path: drop the scheme and the query string
            # (``?mode=memory&cache=shared``), then decode as SQLite will.
            candidate = unquote(candidate.removeprefix("file:").split("?", 1)[0])
        parts = re.split(r"[/\\]", candidate)
        if ".." in parts:
            msg = f"path must not contain '..' components: {value!r}"
            raise ValueError(msg)
        return value

    # URI parameters SQLite honours (https://sqlite.org/uri.html) that keep
    # locking and durability intact; vfs only names locking VFSes.
    _SAFE_URI_PARAMS: ClassVar[frozenset[str]] = frozenset(
        {"mode", "cache", "psow", "vfs"}
    )
    _SAFE_VFS: ClassVar[frozenset[str]] = frozenset(
        {"unix", "unix-excl", "win32", "win32-longpath"}
    )

    @field_validator("path")
    @classmethod
    def _refuse_unsafe_uri_parameters(cls, value: str) -> str:
        """Refuse ``file:`` URI parameters that defeat locking or durability.

        ``vfs=unix-none`` / ``win32-none`` take no locks, ``unix-dotfile``,
        ``unix-flock`` and the like lock in a way processes using the
        default VFS do not see (two writers at once corrupt the file);
        ``nolock=1`` and ``immutable=1`` turn locking (and change detection)
        off; ``modeof=`` creates the file with another file's permissions.
        Any parameter SQLite does not document is refused too (it would
        reach the VFS unchecked). Kept: ``mode``, ``cache``, ``psow`` and
        ``vfs`` naming a locking VFS (``unix``, ``unix-excl``, ``win32``,
        ``win32-longpath``).
        """
        if not value.startswith("file:") or "?" not in value:
            return value
        query = value.split("?", 1)[1].split("#", 1)[0]
        for item in query.split("&"):
            if not item:
                continue
            name, _, raw = item.partition("=")
            key, setting = unquote(name), unquote(raw)
            if key not in cls._SAFE_URI_PARAMS:
                msg = (
                    f"path: URI parameter {key!r} is refused: it disables "
                    "locking or durability, or is unknown to SQLite "
                    f"(allowed: {', '.join(sorted(cls._SAFE_URI_PARAMS))})"
                )
                raise ValueError(msg)
            if key == "vfs" and setting not in cls._SAFE_VFS:
                msg = (
                    f"path: URI parameter vfs={setting!r} is refused: only a "
                    "VFS with the default locking is allowed "
                    f"({', '.join(sorted(cls._SAFE_VFS))})"
                )
                raise ValueError(msg)
        return value


class PostgresConfig(BaseModel):
    """Postgres-specific persistence configuration.

    Attributes:
        host: Database host.
        port: Database port (default 5432).
        database: Database name.
        username: Database user.
        password: Database password; a ``SecretStr`` so it is redacted from
            logs, ``repr`` and serialisation.
        ssl_mode: libpq ``sslmode``. Default ``"prefer"``.
        pool_min_size: Connections opened (warmed) on connect.
        pool_max_size: Maximum pooled connections; ``>= pool_min_size``.
        pool_timeout_seconds: Wait for a pool checkout before raising.
        application_name: libpq ``application_name`` (shows in
            ``pg_stat_activity``).
        statement_timeout_ms: Session ``statement_timeout`` (0 disables).
        connect_timeout_seconds: Wait for an initial connection attempt.
        operation_timeout_seconds: Client-side bound on every network wait
            of a call (default 35 s, above the 30 s ``statement_timeout``):
            on expiry the connection is closed (never returned to the pool)
            and the call raises a retryable ``PersistenceConnectionError``
            naming the operation and the timeout. Also sets libpq's
            ``tcp_user_timeout`` and TCP keepalives.
        enable_timescaledb: Convert the append-only time-series tables
            (``cost_records``, ``audit_entries``) to hypertables. Needs the
            timescaledb extension on the server.
        cost_records_chunk_interval: Hypertable chunk interval for
            ``cost_records``; ignored unless ``enable_timescaledb``.
        audit_entries_chunk_interval: Hypertable chunk interval for
            ``audit_entries``; ignored unless ``enable_timescaledb``.
    """

    # Validation errors never echo their input: one of them is the password.
    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, hide_input_in_errors=True
    )

    host: NotBlankStr = "localhost"
    port: int = Field(default=5432, ge=1, le=65535)
    database: NotBlankStr
    username: NotBlankStr
    password: SecretStr
    ssl_mode: PostgresSslMode = "prefer"
    pool_min_size: int = Field(default=1, ge=1)
    pool_max_size: int = Field(default=10, ge=1)
    pool_timeout_seconds: float = Field(default=30.0, gt=0)
    application_name: NotBlankStr = Field(
        default="synthorg",
        description="libpq application_name session parameter",
    )
    statement_timeout_ms: int = Field(
        default=30_000,
        ge=0,
        description="Postgres statement_timeout session param in ms (0 disables)",
    )
    connect_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Initial connection timeout in seconds",
    )
    operation_timeout_seconds: float = Field(
        default=35.0,
        gt=0,
        description=(
            "Client-side bound on each network wait of a call (one statement, "
            "fetch, COPY flush or COMMIT): a server that does not answer "
            "within it gets the connection closed and the call raises a "
            "retryable PersistenceConnectionError. Keep it above "
            "statement_timeout_ms so a merely slow statement is cancelled by "
            "the server first."
        ),
    )
    enable_timescaledb: bool = Field(
        default=False,
        description=(
            "Enable TimescaleDB hypertable conversion for append-only "
            "time-series tables (cost_records, audit_entries)."
        ),
    )
    cost_records_chunk_interval: NotBlankStr = Field(
        default="7 days",
        description="Hypertable chunk interval for cost_records.",
    )
    audit_entries_chunk_interval: NotBlankStr = Field(
        default="7 days",
        description="Hypertable chunk interval for audit_entries.",
    )

    @field_validator("cost_records_chunk_interval", "audit_entries_chunk_interval")
    @classmethod
    def _validate_chunk_interval(cls, value: str) -> str:
        """Accept only ``<positive int> <unit>`` interval literals.

        SECURITY BOUNDARY: this text is interpolated into DDL
        (``create_hypertable(..., chunk_time_interval => INTERVAL '<here>')``)
        where a bind parameter cannot be used, so this allow-list is what
        stands between a config file and SQL injection. Widen it only with
        the same all-or-nothing strictness.
        """
        if _CHUNK_INTERVAL_RE.fullmatch(value) is None:
            msg = (
                "chunk interval must look like '<positive integer> <unit>' with "
                "unit one of microseconds, milliseconds, seconds, minutes, "
                f"hours, days, weeks, months, years; got {value!r}"
            )
            raise ValueError(msg)
        return value

    @field_validator("host", "database", "username", "application_name")
    @classmethod
    def _reject_control_characters(cls, value: str, info: Any) -> str:
        """Refuse NUL, newlines and every other control character.

        libpq would truncate at a NUL, and a newline or escape in a name is
        never intended (it ends up in logs and ``pg_stat_activity``).
        """
        found = _CONTROL_RE.search(value)
        if found is not None:
            msg = (
                f"{info.field_name} must not contain control characters "
                f"(found {found.group()!r} at index {found.start()})"
            )
            raise ValueError(msg)
        return value

    @field_validator("password")
    @classmethod
    def _reject_unusable_password(cls, value: SecretStr) -> SecretStr:
        """Refuse a NUL (libpq cannot send it) and the JSON redaction mask.

        ``model_dump_json()`` writes the password as ``"**********"``; loading
        that back would silently replace the real password with the mask.
        The messages never contain the password.
        """
        secret = value.get_secret_value()
        if "\x00" in secret:
            msg = "password must not contain NUL characters"
            raise ValueError(msg)
        if secret == SECRET_MASK:
            msg = (
                "password is the redaction mask '**********' written by "
                "model_dump_json(): the real password was not serialised. "
                "Supply the password again (e.g. from the environment), or dump "
                f"with model_dump_json(context={{'{REVEAL_SECRETS}': True}})"
            )
            raise ValueError(msg)
        return value

    @field_serializer("password", when_used="json")
    def _serialize_password(
        self, value: SecretStr, info: FieldSerializationInfo
    ) -> str:
        """The mask, or the real password under ``context={reveal_secrets: True}``."""
        context = info.context
        if isinstance(context, dict) and context.get(REVEAL_SECRETS) is True:
            return value.get_secret_value()
        return SECRET_MASK

    def __getstate__(self) -> NoReturn:
        """Refuse pickling: a pickle would carry the password in clear.

        Pickles end up in caches, task queues and crash dumps. Build the
        config in the other process instead (reading the password from its
        own environment or secret store).
        """
        msg = (
            "PostgresConfig holds a password and cannot be pickled; build it in "
            "the receiving process from its own settings"
        )
        raise TypeError(msg)

    @model_validator(mode="after")
    def _validate_pool_sizes(self) -> PostgresConfig:
        """Require ``pool_min_size <= pool_max_size``."""
        if self.pool_min_size > self.pool_max_size:
            msg = (
                f"pool_min_size ({self.pool_min_size}) must not exceed "
                f"pool_max_size ({self.pool_max_size})"
            )
            raise ValueError(msg)
        return self

    def conninfo_kwargs(self, *, include_password: bool = True) -> dict[str, object]:
        """Return keyword arguments for ``psycopg.connect`` / the pool.

        With ``include_password`` (the default, for a direct
        ``psycopg.connect``) this unwraps the password: do not log the
        result. The backend passes ``include_password=False``: its pool
        keeps these keyword arguments for its whole life, so the password is
        added only inside each connection attempt instead.

        ``connect_timeout`` is rounded up to whole seconds because libpq
        only takes integers, and rounding down could turn 0.5 into 0,
        which libpq reads as "wait forever". The session ``timezone`` is
        pinned to UTC so TIMESTAMPTZ values come back in UTC regardless of
        the server's default. TCP keepalives and ``tcp_user_timeout`` follow
        ``operation_timeout_seconds``: a peer host that vanished (no FIN, no
        RST) is detected on idle connections too. (A frozen server process
        whose kernel still acknowledges packets is caught by the operation
        timeout, not by TCP.)
        """
        timeout = math.ceil(self.operation_timeout_seconds)
        kwargs: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.database,
            "user": self.username,
        }
        if include_password:
            kwargs["password"] = self.password.get_secret_value()
        kwargs.update(
            {
                "sslmode": self.ssl_mode,
                "connect_timeout": math.ceil(self.connect_timeout_seconds),
                "application_name": self.application_name,
                "options": (
                    f"-c statement_timeout={self.statement_timeout_ms} -c timezone=UTC"
                ),
                "keepalives": 1,
                "keepalives_idle": timeout,
                "keepalives_interval": max(1, math.ceil(timeout / 3)),
                "keepalives_count": 3,
                "tcp_user_timeout": math.ceil(self.operation_timeout_seconds * 1000),
            }
        )
        return kwargs


class PersistenceConfig(BaseModel):
    """Top-level persistence configuration.

    Attributes:
        backend: Backend name; must be registered in the default backend
            registry (``"sqlite"`` or ``"postgres"`` out of the box).
        sqlite: SQLite settings (used when ``backend == "sqlite"``).
        postgres: Postgres settings (required when
            ``backend == "postgres"``).
    """

    # Nested errors would otherwise echo a refused password as input_value.
    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, hide_input_in_errors=True
    )

    backend: NotBlankStr = "sqlite"
    sqlite: SQLiteConfig = Field(default_factory=SQLiteConfig)
    postgres: PostgresConfig | None = None

    @model_validator(mode="after")
    def _validate_backend_name(self) -> PersistenceConfig:
        """Check the backend is registered and has its settings.

        Only names are checked here; the registry imports nothing, so
        validating a Postgres config does not need psycopg installed.
        """
        names = default_registry.names()
        if self.backend not in names:
            known = ", ".join(sorted(names))
            msg = (
                f"unknown persistence backend {self.backend!r}; "
                f"expected one of: {known}"
            )
            raise ValueError(msg)
        if self.backend == "postgres" and self.postgres is None:
            msg = "backend 'postgres' requires 'postgres' settings"
            raise ValueError(msg)
        return self
