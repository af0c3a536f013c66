"""Server faults on a dedicated PostgreSQL: crash, restart, freeze, refused logins.

The module starts its own throwaway server (``synchronous_commit`` on, so
an acknowledged commit survives a crash of the server processes, as in
production) and crashes, restarts and freezes it:

* an immediate stop under concurrent writers, then a restart;
* a freeze (SIGSTOP of the postmaster and every backend: no FIN, no RST)
  longer than the operation timeout, then a thaw;
* a restart with an idle pool (dead connections must not be handed out),
  and ``migrate()`` across a restart and an outage;
* connection errors: a wrong password, a missing database, a closed port,
  a missing socket directory.

Each scenario checks: every call succeeded or raised a retryable
``PersistenceConnectionError`` within a bound, calls succeed again within
about a second of the server's return, and no acknowledged write is lost
(read back over a fresh connection).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from synthorg.persistence import (
    PersistenceAuthenticationError,
    PersistenceConfig,
    PersistenceConnectionError,
    PersistenceError,
    PostgresConfig,
    SettingRow,
    create_backend,
)
from synthorg.persistence.postgres.backend import PostgresPersistenceBackend
from synthorg.persistence.postgres.migrations import ADVISORY_LOCK_KEY
from tests.faults._soak import report, trials
from tests.support.pgserver import (
    PgServer,
    crash_server,
    freeze_server,
    restart_server,
    resume_server,
    start_server,
    stop_server,
    thaw_server,
)

# Short bounds so the scenarios stay fast: a checkout waits at most
# POOL_TIMEOUT, each network wait at most OPERATION_TIMEOUT.
OPERATION_TIMEOUT = 2.0
POOL_TIMEOUT = 1.0
CONNECT_TIMEOUT = 1.0
SLACK = 0.75
# A call may first wait for a connection, then for the server.
CALL_BOUND = POOL_TIMEOUT + OPERATION_TIMEOUT + SLACK
# Calls succeed again this long after the server is back.
RECOVERY_BOUND = 1.5
WRITERS = 8
DOWNTIME = 2.0  # seconds the crashed server stays down

_frozen: list[int] = []


@pytest.fixture(scope="module")
def fault_server() -> Iterator[PgServer]:
    """A server of this module alone: the other tests never see it crash."""
    server = start_server(crash_safe=True)
    try:
        yield server
    finally:
        if _frozen:
            thaw_server(_frozen)
            _frozen.clear()
        stop_server(server)


def _config(server: PgServer, database: str, **overrides: Any) -> PersistenceConfig:
    settings: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "database": database,
        "username": server.user,
        "password": SecretStr(server.password),
        "pool_min_size": 2,
        "pool_max_size": WRITERS,
        "pool_timeout_seconds": POOL_TIMEOUT,
        "connect_timeout_seconds": CONNECT_TIMEOUT,
        "operation_timeout_seconds": OPERATION_TIMEOUT,
        **overrides,
    }
    return PersistenceConfig(backend="postgres", postgres=PostgresConfig(**settings))


@pytest.fixture(scope="module")
def fault_template(fault_server: PgServer) -> str:
    """A migrated database on the fault server, copied for each test."""
    name = f"template_{secrets.token_hex(4)}"
    fault_server.create_database(name)

    async def run() -> None:
        instance = create_backend(_config(fault_server, name))
        await instance.connect()
        try:
            await instance.migrate()
        finally:
            await instance.disconnect()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()
    return name


@pytest.fixture
async def fault_backend(
    fault_server: PgServer, fault_template: str
) -> AsyncIterator[PostgresPersistenceBackend]:
    """A connected, migrated backend on a fresh copy of the template."""
    name = f"f_{secrets.token_hex(4)}"
    fault_server.create_database(name, template=fault_template)
    instance = create_backend(_config(fault_server, name))
    assert isinstance(instance, PostgresPersistenceBackend)
    await instance.connect()
    await instance.migrate()
    try:
        yield instance
    finally:
        if _frozen:
            thaw_server(_frozen)
            _frozen.clear()
        await instance.disconnect()
        fault_server.drop_database(name)


def _stored_keys(server: PgServer, database: str) -> set[str]:
    """Every ``_system`` setting key, read over a brand-new connection."""
    with psycopg.connect(server.dsn(database), connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT key FROM settings WHERE namespace = '_system'"
        ).fetchall()
    return {str(row[0]) for row in rows}


@dataclass
class Tally:
    """What the writers saw."""

    calls: int = 0
    acknowledged: list[str] = field(default_factory=list)
    errors: list[tuple[float, PersistenceError]] = field(default_factory=list)
    successes: list[float] = field(default_factory=list)
    max_latency: float = 0.0

    def check_errors(self) -> None:
        for _, error in self.errors:
            assert isinstance(error, PersistenceConnectionError), repr(error)
            assert error.is_retryable, repr(error)

    def absorb(self, other: Tally) -> None:
        """Add one trial's figures to this running total."""
        self.calls += other.calls
        self.acknowledged += other.acknowledged
        self.errors += other.errors
        self.max_latency = max(self.max_latency, other.max_latency)

    def first_success_after(self, moment: float) -> float:
        later = [t for t in self.successes if t >= moment]
        assert later, "no call succeeded after the server came back"
        return min(later) - moment


async def _writer(
    backend: PostgresPersistenceBackend, tag: str, stop: asyncio.Event, tally: Tally
) -> None:
    """Save distinct keys until ``stop``; record acknowledgements and errors."""
    index = 0
    while not stop.is_set():
        key = f"{tag}-{index}"
        index += 1
        started = time.monotonic()
        try:
            await backend.set_setting(key, "v")
        except PersistenceError as exc:
            tally.errors.append((time.monotonic(), exc))
            await asyncio.sleep(0.02)
        else:
            tally.acknowledged.append(key)
            tally.successes.append(time.monotonic())
        finally:
            tally.calls += 1
            tally.max_latency = max(tally.max_latency, time.monotonic() - started)


async def _in_thread(fn: Callable[..., object], *args: object) -> None:
    await asyncio.to_thread(fn, *args)


async def _with_writers(
    backend: PostgresPersistenceBackend, fault: Callable[[], Awaitable[float]]
) -> tuple[Tally, float]:
    """Run writers around ``fault`` (which returns when the server is back)."""
    tally = Tally()
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(_writer(backend, f"w{i}", stop, tally))
        for i in range(WRITERS)
    ]
    try:
        await asyncio.sleep(0.3)
        back = await fault()
        await asyncio.sleep(RECOVERY_BOUND + 0.5)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return tally, back


async def _assert_pool_healthy(backend: PostgresPersistenceBackend) -> None:
    """Every connection the pool holds works: many concurrent calls succeed."""
    pool = backend.get_db()
    assert all(not conn.closed for conn in pool._pool)
    results = await asyncio.gather(
        *(backend.get_setting(f"probe-{i}") for i in range(WRITERS * 3))
    )
    assert results == [None] * (WRITERS * 3)
    assert await backend.health_check() is True


# ---------------------------------------------------------------------------
# (a) immediate stop under concurrent writers, then restart
# ---------------------------------------------------------------------------


async def test_crash_under_writers_loses_nothing_and_recovers(
    fault_server: PgServer, fault_backend: PostgresPersistenceBackend
) -> None:
    total = Tally()
    recoveries: list[float] = []
    for _ in range(trials(1)):

        async def crash_and_restart() -> float:
            await _in_thread(crash_server, fault_server)
            # Writers keep calling a dead server; long enough for the pool's
            # default reconnect backoff (1 s, 2 s, ...) to lag behind.
            await asyncio.sleep(DOWNTIME)
            await _in_thread(resume_server, fault_server)
            return time.monotonic()

        tally, back = await _with_writers(fault_backend, crash_and_restart)
        tally.check_errors()
        assert tally.errors, "the crash went unnoticed: the fault was not injected"
        recoveries.append(tally.first_success_after(back))
        late = [t - back for t, _ in tally.errors if t - back > RECOVERY_BOUND]
        assert not late, f"calls still failing {late} s after the restart"
        assert tally.max_latency <= CALL_BOUND, tally.max_latency
        total.absorb(tally)
    database = fault_backend.config.database
    lost = set(total.acknowledged) - _stored_keys(fault_server, database)
    report(
        "pg crash under writers",
        trials=trials(1),
        calls=total.calls,
        acknowledged=len(total.acknowledged),
        errors=len(total.errors),
        lost=len(lost),
        max_latency=f"{total.max_latency:.2f}s",
        recovery=f"{max(recoveries):.2f}s",
    )
    assert not lost
    assert max(recoveries) <= RECOVERY_BOUND
    await _assert_pool_healthy(fault_backend)


# ---------------------------------------------------------------------------
# (b) a frozen server: every call bounded, then recovery after the thaw
# ---------------------------------------------------------------------------

FREEZE = CALL_BOUND + 1.0  # longer than any call may block


async def test_frozen_server_bounds_every_call(
    fault_server: PgServer, fault_backend: PostgresPersistenceBackend
) -> None:
    total = Tally()
    recoveries: list[float] = []
    for _ in range(trials(1)):

        async def freeze_and_thaw() -> float:
            _frozen.extend(freeze_server(fault_server))
            await asyncio.sleep(FREEZE)
            thaw_server(_frozen)
            _frozen.clear()
            return time.monotonic()

        tally, back = await _with_writers(fault_backend, freeze_and_thaw)
        tally.check_errors()
        assert tally.errors, "no call noticed the freeze"
        timeouts = [e for _, e in tally.errors if "operation_timeout_seconds" in str(e)]
        assert timeouts, "no call was cut by the operation timeout"
        assert "settings.save" in str(timeouts[0])  # names the operation
        recoveries.append(tally.first_success_after(back))
        late = [t - back for t, _ in tally.errors if t - back > RECOVERY_BOUND]
        assert not late, f"calls still failing {late} s after the thaw"
        total.absorb(tally)
    database = fault_backend.config.database
    lost = set(total.acknowledged) - _stored_keys(fault_server, database)
    report(
        "pg freeze under writers",
        trials=trials(1),
        calls=total.calls,
        acknowledged=len(total.acknowledged),
        errors=len(total.errors),
        lost=len(lost),
        max_latency=f"{total.max_latency:.2f}s",
        bound=f"{CALL_BOUND:.2f}s",
        recovery=f"{max(recoveries):.2f}s",
    )
    assert total.max_latency <= CALL_BOUND
    assert not lost
    assert max(recoveries) <= RECOVERY_BOUND
    await _assert_pool_healthy(fault_backend)


async def test_frozen_server_bounds_every_call_path(
    fault_server: PgServer, fault_backend: PostgresPersistenceBackend
) -> None:
    """Point reads, upserts, batches, transactions, versions, health, migrate."""
    backend = fault_backend
    rows = [
        SettingRow(namespace="ns", key=f"k{i}", value="v", updated_at="t")
        for i in range(3)
    ]
    ontology = backend.build_ontology_versioning()

    paths: dict[str, Callable[[], Awaitable[object]]] = {
        "get": lambda: backend.get_setting("x"),
        "save": lambda: backend.set_setting("x", "y"),
        "save_many": lambda: backend.settings.save_many(rows),
        "list": lambda: backend.settings.list_items(),
        "transaction": lambda: backend.settings.set_many(rows),
        "versions": lambda: ontology.latest("entity"),
        "migrate": backend.migrate,
    }
    # Warm one connection per path, so some calls block on a checked-out
    # connection and the others on checkout.
    await asyncio.gather(*(call() for call in paths.values()))

    async def timed(call: Callable[[], Awaitable[object]]) -> tuple[float, object]:
        started = time.monotonic()
        try:
            outcome: object = await call()
        except PersistenceError as exc:
            outcome = exc
        return time.monotonic() - started, outcome

    def thaw() -> None:
        thaw_server(_frozen)
        _frozen.clear()

    _frozen.extend(freeze_server(fault_server))
    # Thawed by a timer, not by the calls returning: without a client-side
    # bound they would wait for the thaw, and then exceed CALL_BOUND.
    timer = asyncio.get_running_loop().call_later(FREEZE, thaw)
    try:
        results = await asyncio.gather(
            *(timed(call) for call in paths.values()), timed(backend.health_check)
        )
    finally:
        timer.cancel()
        thaw()
    *calls, (health_latency, healthy) = results
    for name, (latency, outcome) in zip(paths, calls, strict=True):
        assert latency <= CALL_BOUND, (name, latency)
        assert isinstance(outcome, PersistenceConnectionError), (name, outcome)
        assert outcome.is_retryable
    assert healthy is False
    assert health_latency <= CALL_BOUND
    # Nothing was marked unusable by the failed migrate(): calls work again.
    deadline = time.monotonic() + RECOVERY_BOUND
    while True:
        try:
            await backend.set_setting("after", "thaw")
            break
        except PersistenceConnectionError:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    await backend.migrate()
    await _assert_pool_healthy(backend)


# ---------------------------------------------------------------------------
# (c) restart with an idle pool; migrate() across a restart and an outage
# ---------------------------------------------------------------------------


async def test_first_call_after_restart_succeeds(
    fault_server: PgServer, fault_backend: PostgresPersistenceBackend
) -> None:
    for trial in range(trials(2)):
        # Fill the pool with several idle connections, all about to die.
        await asyncio.gather(
            *(fault_backend.set_setting(f"before-{trial}-{i}", "v") for i in range(6))
        )
        await asyncio.to_thread(restart_server, fault_server)
        started = time.monotonic()
        await fault_backend.set_setting(f"after-{trial}", "v")  # no error
        assert await fault_backend.get_setting(f"before-{trial}-0") == "v"
        assert time.monotonic() - started <= RECOVERY_BOUND
        assert await fault_backend.health_check() is True


async def test_connection_closed_by_server_is_not_handed_out(
    fault_server: PgServer, fault_backend: PostgresPersistenceBackend
) -> None:
    """A connection the server ended moments ago is detected without a ping.

    The pooled connection was used well under a second before (no idle
    ping is due): its readable socket (the server's FATAL, then EOF) is what
    tells checkout it is dead.
    """
    database = fault_backend.config.database
    with psycopg.connect(fault_server.dsn(database), autocommit=True) as admin:
        for trial in range(trials(3)):
            await fault_backend.set_setting(f"before{trial}", "v")
            used = time.monotonic()
            # Every pooled session of this database, not just the last used.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
            await asyncio.sleep(0.05)  # the FIN arrives
            await fault_backend.set_setting(f"k{trial}", "v")  # no error
            assert time.monotonic() - used < 1.0  # the idle ping was not due


async def test_migrate_after_restart_and_during_outage(
    fault_server: PgServer, fault_backend: PostgresPersistenceBackend
) -> None:
    await asyncio.to_thread(restart_server, fault_server)
    started = time.monotonic()
    await fault_backend.migrate()  # nothing pending: one query, works at once
    assert time.monotonic() - started <= RECOVERY_BOUND
    await fault_backend.set_setting("k", "v")

    await asyncio.to_thread(crash_server, fault_server)
    try:
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(PersistenceConnectionError) as info:
                await fault_backend.migrate()
            assert info.value.is_retryable
            assert time.monotonic() - started <= CALL_BOUND
        # The backend was not marked unusable by a lost connection.
        assert fault_backend.settings is not None
    finally:
        await asyncio.to_thread(resume_server, fault_server)
    deadline = time.monotonic() + RECOVERY_BOUND
    while True:
        try:
            assert await fault_backend.get_setting("k") == "v"
            break
        except PersistenceConnectionError:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    await fault_backend.migrate()


async def test_noop_migrate_takes_no_lock(
    fault_server: PgServer, fault_backend: PostgresPersistenceBackend
) -> None:
    """Nothing pending: one read of the applied revisions, no advisory lock.

    Another session holds the migration lock; a no-op ``migrate()`` must not
    queue behind it (each one used to take it once per revision).
    """
    database = fault_backend.config.database
    with psycopg.connect(fault_server.dsn(database), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        started = time.monotonic()
        await asyncio.wait_for(fault_backend.migrate(), timeout=5.0)
        assert time.monotonic() - started < 1.0
    await fault_backend.set_setting("k", "v")


def _pool_tasks(name: str) -> list[asyncio.Task[Any]]:
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith(name) and not task.done()
    ]


async def test_connect_to_frozen_server_is_bounded_and_leaves_no_pool(
    fault_server: PgServer, fault_template: str
) -> None:
    """No answer: a retryable error after connect_timeout; cancelled: no leak."""
    config = _config(fault_server, fault_template, application_name="frozen-probe")
    _frozen.extend(freeze_server(fault_server))
    try:
        instance = create_backend(config)
        started = time.monotonic()
        with pytest.raises(PersistenceConnectionError) as info:
            await instance.connect()
        assert info.value.is_retryable
        assert time.monotonic() - started <= CONNECT_TIMEOUT + SLACK + 1.0
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await create_backend(config).connect()
        await asyncio.sleep(0.1)
        assert not _pool_tasks("synthorg-frozen-probe")
    finally:
        thaw_server(_frozen)
        _frozen.clear()


# ---------------------------------------------------------------------------
# (d) connection errors report the reason, fast; a refused login is final
# ---------------------------------------------------------------------------


async def _connect_error(config: PersistenceConfig) -> tuple[PersistenceError, float]:
    instance = create_backend(config)
    started = time.monotonic()
    with pytest.raises(PersistenceConnectionError) as info:
        await instance.connect()
    elapsed = time.monotonic() - started
    assert instance.is_connected is False
    return info.value, elapsed


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("password", "password authentication failed"),
        ("database", "does not exist"),
    ],
)
async def test_refused_login_is_not_retryable(
    fault_server: PgServer, fault_template: str, case: str, reason: str
) -> None:
    wrong = f"wrong-{secrets.token_hex(8)}"
    overrides: dict[str, Any] = (
        {"password": SecretStr(wrong)} if case == "password" else {}
    )
    database = fault_template if case == "password" else "no_such_database"
    error, elapsed = await _connect_error(
        _config(fault_server, database, connect_timeout_seconds=10.0, **overrides)
    )
    assert isinstance(error, PersistenceAuthenticationError)
    assert error.is_retryable is False
    assert reason in str(error)
    assert wrong not in str(error) and fault_server.password not in str(error)
    assert elapsed < 2.0


async def test_unreachable_server_is_retryable_with_its_reason(
    fault_server: PgServer, tmp_path: Path
) -> None:
    with socket_free_port() as port:
        cases = {
            "Connection refused": _config(
                fault_server, "postgres", port=port, connect_timeout_seconds=10.0
            ),
            "No such file or directory": _config(
                fault_server,
                "postgres",
                host=str(tmp_path / "missing-socket-dir"),
                connect_timeout_seconds=10.0,
            ),
        }
        for reason, config in cases.items():
            error, elapsed = await _connect_error(config)
            assert type(error) is PersistenceConnectionError
            assert error.is_retryable is True
            assert reason in str(error), str(error)
            assert fault_server.password not in str(error)
            assert elapsed < 2.0


class socket_free_port:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, not listening)."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        port: int = self._sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
