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
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, NoReturn
from urllib.parse import parse_qsl, unquote, urlsplit

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
    "ENV_VARIABLES",
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
    """Run cheap reads on the event loop thread (file + WAL only).

    Key/unique point reads, and counts and LIMIT-bounded pages over an
    index (while no other call is in flight), each within a VM-step budget.
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
        enable_timescaledb: Convert the time-series tables (the entities
            the YAML marks ``timeseries``: ``cost_records``,
            ``audit_entries``) to hypertables, each with the chunk interval
            of its ``<table>_chunk_interval`` setting. Needs the
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

    @classmethod
    def from_dsn(
        cls, dsn: str, *, password: str | SecretStr | None = None, **settings: Any
    ) -> PostgresConfig:
        """A config from a connection URL or a libpq keyword/value string.

        ``postgresql://user:password@host:port/database?sslmode=require``
        (also ``postgres://``): user, password and database are
        percent-decoded. The keyword/value form is libpq's:
        ``host=... port=... dbname=... user=... password='a b'``. The
        parameters ``sslmode``, ``application_name`` and ``connect_timeout``
        map to ``ssl_mode``, ``application_name`` and
        ``connect_timeout_seconds``; any other parameter is refused, named.

        ``password`` supplies the password when the DSN has none (from a
        secret file, say); giving it both ways is refused. ``settings`` are
        further fields (``pool_max_size=4``). Errors never contain the
        password.

        Raises:
            ValueError: A malformed DSN, a missing user or database, an
                unknown parameter (pydantic's ``ValidationError`` for a bad
                value; it does not echo the input).
        """
        text = dsn.strip()
        if re.match(r"postgres(?:ql)?://", text):
            params = _parse_url(text)
        elif "://" in text.split("=", 1)[0]:
            raise ValueError(
                "DSN: only postgresql:// and postgres:// URLs are understood "
                f"(got scheme {text.split('://', 1)[0]!r})"
            )
        else:
            params = _parse_keywords(text)
        unknown = sorted(set(params) - set(_DSN_FIELDS))
        if unknown:
            raise ValueError(
                f"DSN: unknown parameter(s) {', '.join(map(repr, unknown))}; "
                f"understood: {', '.join(sorted(_DSN_FIELDS))}"
            )
        if password is not None:
            if "password" in params:
                raise ValueError(
                    "DSN: a password is given both in the DSN and separately; keep one"
                )
            params["password"] = (
                password.get_secret_value()
                if isinstance(password, SecretStr)
                else password
            )
        for required in ("dbname", "user"):
            if not params.get(required):
                raise ValueError(
                    f"DSN: no {_DSN_FIELDS[required]} given ({required}); "
                    "e.g. postgresql://user@host:5432/database"
                )
        if "password" not in params:
            raise ValueError(
                "DSN: no password given (in the DSN, or separately, e.g. "
                "SYNTHORG_PG_PASSWORD_FILE)"
            )
        fields: dict[str, Any] = {_DSN_FIELDS[k]: v for k, v in params.items()}
        if "port" in fields:
            fields["port"] = _dsn_int("port", fields["port"])
        if "connect_timeout_seconds" in fields:
            fields["connect_timeout_seconds"] = _dsn_int(
                "connect_timeout", fields["connect_timeout_seconds"]
            )
        if fields.get("host") == "":
            del fields["host"]
        overlap = sorted(set(fields) & set(settings))
        if overlap:
            raise ValueError(
                f"DSN: {', '.join(overlap)} given both in the DSN and as a setting"
            )
        return cls(**fields, **settings)

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


# DSN parameter -> PostgresConfig field.
_DSN_FIELDS = {
    "host": "host",
    "port": "port",
    "dbname": "database",
    "user": "username",
    "password": "password",
    "sslmode": "ssl_mode",
    "application_name": "application_name",
    "connect_timeout": "connect_timeout_seconds",
}
_URL_QUERY = frozenset({"sslmode", "application_name", "connect_timeout"})


def _dsn_int(name: str, value: str) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", value):
        # Not echoed: in a URL whose password holds an unescaped '/' or
        # '?', the "port" is a piece of the password.
        raise ValueError(f"DSN: {name} must be a whole number")
    return int(value)


def _parse_url(url: str) -> dict[str, str]:
    """The parameters of a ``postgresql://`` URL (the password never echoed)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in url[url.index(netloc) + len(netloc) :] if netloc else "@" in url:
        # The '@' of user:password@host came after a '/', '?' or '#' that
        # belongs to the password: nothing after it can be trusted.
        raise ValueError(
            "DSN: malformed URL; percent-encode '@', ':', '/', '?' and '#' in "
            "the user name and password (e.g. with urllib.parse.quote)"
        )
    userinfo, at, hostport = netloc.rpartition("@")
    if not at:
        userinfo, hostport = "", netloc
    params: dict[str, str] = {}
    if userinfo:
        user, colon, secret = userinfo.partition(":")
        params["user"] = unquote(user)
        if colon:
            params["password"] = unquote(secret)
    if "," in hostport:
        raise ValueError("DSN: several hosts are not supported (one host:port)")
    if hostport.startswith("["):
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError("DSN: malformed IPv6 host (expected [address]:port)")
        port = rest[1:]
    else:
        host, _, port = hostport.partition(":")
    if host:
        params["host"] = unquote(host)
    if port:
        params["port"] = port
    raw_database = parts.path.removeprefix("/")
    if "/" in raw_database:
        raise ValueError("DSN: the path must be one database name")
    database = unquote(raw_database)
    if database:
        params["dbname"] = database
    if parts.fragment:
        raise ValueError("DSN: a URL fragment (#...) is not understood")
    seen: set[str] = set()
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in seen:
            raise ValueError(f"DSN: parameter {key!r} is given twice")
        seen.add(key)
        if key not in _URL_QUERY:
            # Unknown ones (and host/user/... that belong in the URL itself).
            raise ValueError(
                f"DSN: unknown parameter {key!r}; understood in the query: "
                f"{', '.join(sorted(_URL_QUERY))}"
            )
        params[key] = value
    return params


def _parse_keywords(text: str) -> dict[str, str]:
    """The parameters of a libpq ``key=value key='quoted value'`` string."""
    params: dict[str, str] = {}
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end:
            return params
        match = re.compile(r"([A-Za-z_]+)\s*=\s*").match(text, pos)
        if match is None:
            raise ValueError(
                "DSN: expected a postgresql:// URL or libpq key=value pairs"
            )
        key, pos = match.group(1), match.end()
        value: list[str] = []
        if pos < end and text[pos] == "'":
            pos += 1
            while True:
                if pos >= end:
                    raise ValueError(f"DSN: unterminated quoted value of {key!r}")
                char = text[pos]
                if char == "\\" and pos + 1 < end:
                    value.append(text[pos + 1])
                    pos += 2
                    continue
                pos += 1
                if char == "'":
                    break
                value.append(char)
        else:
            while pos < end and not text[pos].isspace():
                if text[pos] == "\\" and pos + 1 < end:
                    pos += 1
                value.append(text[pos])
                pos += 1
        if key in params:
            raise ValueError(f"DSN: parameter {key!r} is given twice")
        params[key] = "".join(value)


ENV_VARIABLES: Mapping[str, str] = {
    "SYNTHORG_DB_BACKEND": "sqlite or postgres (default: inferred from the others)",
    "SYNTHORG_SQLITE_PATH": "the SQLite database file",
    "SYNTHORG_DB_DSN": "a postgresql:// URL or libpq key=value string",
    "SYNTHORG_PG_HOST": "PostgreSQL host (default localhost)",
    "SYNTHORG_PG_PORT": "PostgreSQL port (default 5432)",
    "SYNTHORG_PG_DATABASE": "PostgreSQL database name",
    "SYNTHORG_PG_USER": "PostgreSQL user",
    "SYNTHORG_PG_PASSWORD": "PostgreSQL password",
    "SYNTHORG_PG_PASSWORD_FILE": "a file holding the password (one trailing "
    "newline is stripped)",
    "SYNTHORG_PG_SSLMODE": "libpq sslmode (default prefer)",
}
"""The environment variables :meth:`PersistenceConfig.from_env` reads."""

_PG_PARTS = {
    "SYNTHORG_PG_HOST": "host",
    "SYNTHORG_PG_PORT": "port",
    "SYNTHORG_PG_DATABASE": "database",
    "SYNTHORG_PG_USER": "username",
    "SYNTHORG_PG_SSLMODE": "ssl_mode",
}


def _env_password(env: Mapping[str, str]) -> str | None:
    """SYNTHORG_PG_PASSWORD, or the file SYNTHORG_PG_PASSWORD_FILE names."""
    direct = env.get("SYNTHORG_PG_PASSWORD")
    path = env.get("SYNTHORG_PG_PASSWORD_FILE")
    if direct is not None and path is not None:
        raise ValueError(
            "set SYNTHORG_PG_PASSWORD or SYNTHORG_PG_PASSWORD_FILE, not both"
        )
    if path is None:
        return direct
    try:
        secret = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"SYNTHORG_PG_PASSWORD_FILE: cannot read {path!r}: "
            f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    secret = secret.removesuffix("\n").removesuffix("\r")
    return secret


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PersistenceConfig:
        """The configuration the environment describes (see ``ENV_VARIABLES``).

        ``SYNTHORG_DB_BACKEND`` picks the backend; without it, a
        ``SYNTHORG_DB_DSN`` or any ``SYNTHORG_PG_*`` variable means
        PostgreSQL, else SQLite (``SYNTHORG_SQLITE_PATH``, default
        ``synthorg.db``). PostgreSQL is either ``SYNTHORG_DB_DSN`` or the
        ``SYNTHORG_PG_HOST/PORT/DATABASE/USER/SSLMODE`` parts, not both; the
        password comes from the DSN, ``SYNTHORG_PG_PASSWORD`` or the file
        named by ``SYNTHORG_PG_PASSWORD_FILE`` (one trailing newline
        stripped; setting both is refused). Empty variables count as unset.

        Raises:
            ValueError: Contradictory or invalid settings (never echoing the
                password).
        """
        source = os.environ if environ is None else environ
        env = {k: v for k, v in source.items() if k in ENV_VARIABLES and v != ""}
        dsn = env.get("SYNTHORG_DB_DSN")
        parts = {field: env[name] for name, field in _PG_PARTS.items() if name in env}
        backend = env.get("SYNTHORG_DB_BACKEND")
        if backend is None:
            postgres_named = dsn is not None or any(
                k.startswith("SYNTHORG_PG_") for k in env
            )
            if postgres_named and "SYNTHORG_SQLITE_PATH" in env:
                raise ValueError(
                    "both SQLite (SYNTHORG_SQLITE_PATH) and PostgreSQL "
                    "(SYNTHORG_DB_DSN / SYNTHORG_PG_*) are set: set "
                    "SYNTHORG_DB_BACKEND to choose"
                )
            backend = "postgres" if postgres_named else "sqlite"
        if backend != "postgres":
            sqlite = SQLiteConfig(path=env.get("SYNTHORG_SQLITE_PATH", "synthorg.db"))
            return cls(backend=backend, sqlite=sqlite)
        password = _env_password(env)
        if dsn is not None:
            if parts:
                raise ValueError(
                    "SYNTHORG_DB_DSN and SYNTHORG_PG_"
                    f"{'/'.join(k.removeprefix('SYNTHORG_PG_') for k in _PG_PARTS)} "
                    "are both set: use one"
                )
            return cls(
                backend="postgres",
                postgres=PostgresConfig.from_dsn(dsn, password=password),
            )
        for name in ("SYNTHORG_PG_DATABASE", "SYNTHORG_PG_USER"):
            if name not in env:
                raise ValueError(
                    f"PostgreSQL from the environment needs {name} (or SYNTHORG_DB_DSN)"
                )
        if password is None:
            raise ValueError(
                "PostgreSQL from the environment needs SYNTHORG_PG_PASSWORD or "
                "SYNTHORG_PG_PASSWORD_FILE"
            )
        settings: dict[str, Any] = dict(parts)
        if "port" in settings:
            settings["port"] = _dsn_int("SYNTHORG_PG_PORT", settings["port"])
        return cls(
            backend="postgres",
            postgres=PostgresConfig(**settings, password=SecretStr(password)),
        )
