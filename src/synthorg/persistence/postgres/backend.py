"""PostgreSQL persistence backend on a psycopg ``AsyncConnectionPool``.

Pooled connections are autocommit, so a single-statement repository call is
one network round trip (no BEGIN/COMMIT), and statements are prepared on
each connection on first use. ``statement_timeout``, ``timezone=UTC`` and
``application_name`` are sent as startup options, costing no extra round
trip. ``write_context`` is a no-op: each call checks out its own connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import psycopg
from psycopg_pool import PoolTimeout

from synthorg.persistence._backend_base import BackendBase
from synthorg.persistence.config import PostgresConfig
from synthorg.persistence.errors import (
    PersistenceAuthenticationError,
    PersistenceConnectionError,
    PersistenceError,
)
from synthorg.persistence.generated.postgres import build_repositories
from synthorg.persistence.generated.repositories import Repositories
from synthorg.persistence.migrations import Revision, load_revisions
from synthorg.persistence.postgres.driver import (
    ConnectSettings,
    Pool,
    SynthorgPool,
    connection,
    connection_class,
    map_postgres_error,
    transaction,
)
from synthorg.persistence.postgres.migrations import (
    applied_postgres,
    migrate_postgres,
    timeseries,
)
from synthorg.persistence.postgres.rows import JsonbLoader
from synthorg.persistence.services.escalations import Notifier
from synthorg.persistence.types import NotBlankStr

if TYPE_CHECKING:
    from synthorg.persistence.protocol import PersistenceBackend

logger = logging.getLogger(__name__)

# Prepared statements kept per connection: every generated statement of every
# repository (and each filter combination) fits, so none is re-prepared.
PREPARED_MAX = 2048


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    conn.prepared_max = PREPARED_MAX
    conn.adapters.register_loader("jsonb", JsonbLoader)


async def _open_pool(
    pool: Pool, settings: ConnectSettings, wait_seconds: float
) -> tuple[str, bool] | None:
    """Open ``pool`` and wait for its first connections; the failure, if any.

    The first failed connection attempt ends the wait at once with the
    server's or libpq's reason (a wrong password, a refused port, a missing
    socket), instead of a bare pool timeout after ``wait_seconds``.
    """
    loop = asyncio.get_running_loop()
    failed: asyncio.Future[tuple[str, bool]] = loop.create_future()

    def on_failure(reason: str, retryable: bool) -> None:
        if not failed.done():
            failed.set_result((reason, retryable))

    settings.on_failure = on_failure
    ready = asyncio.ensure_future(pool.open(wait=True, timeout=wait_seconds))
    try:
        await asyncio.wait((ready, failed), return_when=asyncio.FIRST_COMPLETED)
    finally:
        settings.on_failure = None
        if not ready.done():
            ready.cancel()
        # Retrieve the outcome so a cancelled/failed wait is not reported.
        await asyncio.gather(ready, return_exceptions=True)
    if failed.done():
        return failed.result()
    if ready.cancelled() or ready.exception() is not None:
        return (
            f"no connection within connect_timeout_seconds={wait_seconds:g} "
            "(the server did not answer)",
            True,
        )
    return None


class PostgresPersistenceBackend(BackendBase[Pool]):
    """PostgreSQL implementation of the ``PersistenceBackend`` protocol."""

    _name = "postgres"

    def __init__(self, config: PostgresConfig) -> None:
        super().__init__()
        self._config = config
        self._pool: Pool | None = None

    @property
    def kind(self) -> Literal["postgres"]:
        """The backend discriminator."""
        return "postgres"

    @property
    def backend_name(self) -> NotBlankStr:
        """Human-readable backend identifier."""
        return "postgres"

    @property
    def config(self) -> PostgresConfig:
        """The backend's configuration (read-only; the password stays secret)."""
        return self._config

    @property
    def is_connected(self) -> bool:
        """Whether the pool is open."""
        return self._pool is not None

    # ------------------------------------------------------------- lifecycle
    # The flow (lock, gating, schema check, logging) is BackendBase's.

    async def _open(self) -> Pool:
        """Open the pool and warm ``pool_min_size`` connections."""
        config = self._config
        # No password here: the pool keeps its kwargs for its whole life.
        # PooledConnection.connect adds it to each attempt from the SecretStr.
        kwargs: dict[str, Any] = {
            **config.conninfo_kwargs(include_password=False),
            "autocommit": True,
        }
        settings = ConnectSettings(config.password, config.operation_timeout_seconds)
        pool: Pool = SynthorgPool(
            kwargs=kwargs,
            connection_class=connection_class(settings),
            min_size=config.pool_min_size,
            max_size=config.pool_max_size,
            timeout=config.pool_timeout_seconds,
            configure=_configure,
            open=False,
            name=f"synthorg-{config.application_name}",
        )
        try:
            failure = await _open_pool(pool, settings, config.connect_timeout_seconds)
        except BaseException:
            # Cancelled while opening: do not leave the pool's workers behind.
            await pool.close()
            raise
        if failure is not None:
            reason, retryable = failure
            await pool.close()
            # Raised outside any ``except``: no chained driver exception,
            # whose connection snapshot would carry the password.
            error = (
                PersistenceConnectionError
                if retryable
                else (PersistenceAuthenticationError)
            )
            raise error(
                f"cannot connect to PostgreSQL at {config.host}:{config.port}/"
                f"{config.database} as {config.username}: {reason}"
            )
        return pool

    async def _prepare(self, handle: Pool) -> dict[str, str]:
        try:
            return await applied_postgres(handle)
        except psycopg.Error as exc:
            raise map_postgres_error(exc, "connect") from exc

    def _attach(self, handle: Pool) -> None:
        self._pool = handle

    def _detach(self) -> Pool | None:
        pool, self._pool = self._pool, None
        return pool

    async def _close(self, handle: Pool) -> None:
        await handle.close()

    def _where(self) -> str:
        config = self._config
        return f"host={config.host} port={config.port} database={config.database}"

    def __getstate__(self) -> NoReturn:
        """Refuse pickling: a backend holds live connections and the password."""
        raise TypeError("PostgresPersistenceBackend cannot be pickled")

    async def health_check(self) -> bool:
        """True when a pooled connection answers ``SELECT 1``."""
        if self._pool is None:
            return False
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute("SELECT 1")
                row = await cur.fetchone()
        except psycopg.Error:
            return False
        return row == (1,)

    async def _apply_revisions(self) -> list[str]:
        return await migrate_postgres(
            self.get_db(), self._revisions(), self._hypertables()
        )

    def _transaction(self) -> AbstractAsyncContextManager[object]:
        return transaction(self.get_db())

    def _map_driver_error(
        self, exc: Exception, operation: str
    ) -> PersistenceError | None:
        if isinstance(exc, (psycopg.Error, PoolTimeout)):
            return map_postgres_error(exc, operation)
        return None

    def _revisions(self) -> tuple[Revision, ...]:
        return load_revisions("postgres")

    async def _applied(self) -> dict[str, str]:
        return await applied_postgres(self.get_db())

    def _build_repositories(self) -> Repositories:
        return build_repositories(self.get_db())

    def _notifier(self) -> Notifier:
        pool = self.get_db()

        async def notify(channel: str, payload: str) -> None:
            # Inside transaction(pool): the NOTIFY is delivered on commit.
            try:
                async with connection(pool) as conn:
                    await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))
            except psycopg.Error as exc:
                raise map_postgres_error(exc, "escalations.enqueue") from exc

        return notify

    def _hypertables(self) -> dict[str, str] | None:
        """Table -> chunk interval when TimescaleDB is enabled."""
        config = self._config
        if not config.enable_timescaledb:
            return None
        # Each time-series table's interval is its ``<table>_chunk_interval``
        # setting (validated by PostgresConfig).
        return {
            table: str(getattr(config, f"{table}_chunk_interval"))
            for table in timeseries()
        }

    def get_db(self) -> Pool:
        """The shared connection pool."""
        if self._pool is None:
            raise self._not_connected()
        return self._pool

    @asynccontextmanager
    async def write_context(self) -> AsyncIterator[None]:
        """No mutual exclusion: pooled connections are already isolated.

        Not a transaction either: use :meth:`transaction` for all-or-nothing.
        """
        yield


if TYPE_CHECKING:  # mypy proves the backend satisfies the protocol

    def _conforms(config: PostgresConfig) -> PersistenceBackend:
        return PostgresPersistenceBackend(config)
