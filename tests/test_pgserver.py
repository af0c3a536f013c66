"""Smoke tests for the real throwaway PostgreSQL server used by the suite."""

from __future__ import annotations

import os
import pwd
import signal
import time

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from synthorg.persistence.testing import pgserver
from synthorg.persistence.testing.pgserver import PgServer


def test_connect_with_password(pg_server: PgServer, pg_database: str) -> None:
    dsn = pg_server.dsn(pg_database)
    assert conninfo_to_dict(dsn)["host"] == "127.0.0.1"
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SELECT current_database()").fetchone() == (pg_database,)
        # The test server trades durability for speed.
        assert conn.execute("SHOW fsync").fetchone() == ("off",)


def test_wrong_password_is_refused(pg_server: PgServer) -> None:
    dsn = make_conninfo(pg_server.dsn(), password=pg_server.password + "-wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication"):
        psycopg.connect(dsn, connect_timeout=5)


def test_runs_as_itself_unless_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL refuses root: only root hands the server to a system user."""
    monkeypatch.setattr(pgserver.os, "geteuid", lambda: 1000)
    assert pgserver._server_os_user() is None


def test_root_runs_the_server_as_a_system_user(pg_server: PgServer) -> None:
    if os.geteuid() == 0:
        assert pg_server.os_user in ("postgres", pgserver.FALLBACK_OS_USER)
        owner = pwd.getpwnam(pg_server.os_user).pw_uid
    else:
        assert pg_server.os_user is None
        owner = os.geteuid()
    postmaster = pgserver.server_pids(pg_server)[0]
    assert os.stat(f"/proc/{postmaster}").st_uid == owner
    assert pg_server.datadir.stat().st_uid == owner


def _start_as(uid: int, gid: int) -> str:
    """In a forked child: drop to ``uid``, start and stop a server; a report."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    server = pgserver.start_server()
    try:
        with psycopg.connect(server.dsn()) as conn:
            row = conn.execute("SELECT current_setting('data_directory')").fetchone()
        postmaster = pgserver.server_pids(server)[0]
        return (
            f"os_user={server.os_user} uid={os.stat(f'/proc/{postmaster}').st_uid} "
            f"datadir={row[0] if row else '?'}"
        )
    finally:
        pgserver.stop_server(server)


def test_a_normal_user_starts_its_own_server(pg_server: PgServer) -> None:
    """The non-root path, even when the suite runs as root.

    A forked child drops to ``nobody`` (no exec: the interpreter may live
    where ``nobody`` cannot read) and starts a server as itself.
    """
    if os.geteuid() != 0:
        # Not root: the session's own server took this path already.
        assert pg_server.os_user is None
        return
    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 1
        try:
            os.close(read)
            report = _start_as(nobody.pw_uid, nobody.pw_gid)
            code = 0
        except BaseException as exc:
            report = f"{type(exc).__name__}: {exc}"
        finally:
            os.write(write, report.encode())
            os._exit(code)
    os.close(write)
    deadline = time.monotonic() + 120
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the non-root server start did not finish in 120 s")
        time.sleep(0.1)
    with os.fdopen(read, "rb") as pipe:
        report = pipe.read().decode()
    assert os.waitstatus_to_exitcode(done[1]) == 0, report
    assert report.startswith(f"os_user=None uid={nobody.pw_uid} "), report
