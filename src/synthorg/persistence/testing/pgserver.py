"""Start and stop a real, throwaway PostgreSQL server for tests and benchmarks.

This module never mocks PostgreSQL: it runs the genuine ``initdb`` and
``pg_ctl`` binaries against a fresh data directory in a temporary folder,
listening only on ``127.0.0.1`` on a free TCP port, and removes everything
again when stopped.

Typical use::

    from synthorg.persistence.testing.pgserver import running_server

    with running_server() as server:
        server.create_database("t_demo")
        dsn = server.dsn("t_demo")  # libpq conninfo, includes the password

Design notes:

* Host (TCP) connections use ``scram-sha-256`` with a random password for a
  superuser named ``synthorg``, so the code under test exercises real
  password authentication rather than ``trust``.
* ``fsync=False`` (the default, for tests) turns off ``fsync``,
  ``synchronous_commit`` and ``full_page_writes``: the data is disposable and
  this makes DDL-heavy tests much faster.  Benchmarks pass ``fsync=True`` so
  their numbers reflect a durable configuration.
* PostgreSQL refuses to run as root.  When we are root, ``initdb`` and
  ``pg_ctl`` run as the ``postgres`` system user (or a ``synthorg-pg`` system
  user created on demand) and the temporary directory is chowned to it.
* Servers that are still running when the interpreter exits are stopped by an
  ``atexit`` hook, so an aborted test run does not leave a postmaster behind.
  (A SIGKILLed interpreter cannot run that hook; leftovers then live in
  ``$TMPDIR/synthorg-pg-*``.)

Command line smoke check::

    python -m synthorg.persistence.testing.pgserver --check
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

__all__ = [
    "BINDIR_ENV",
    "PgServer",
    "crash_server",
    "ensure_binaries",
    "find_bindir",
    "freeze_server",
    "restart_server",
    "resume_server",
    "running_server",
    "server_pids",
    "start_server",
    "stop_server",
    "thaw_server",
]

#: Superuser created by ``initdb``.
SUPERUSER = "synthorg"
#: System user created when we are root and no ``postgres`` user exists.
FALLBACK_OS_USER = "synthorg-pg"
#: Database names accepted by :meth:`PgServer.create_database`.  Kept strict
#: (lower case, no quoting surprises) and limited to PostgreSQL's 63-byte
#: identifier length so names are never silently truncated.
_DB_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Timeouts, in seconds.  Generous because CI machines can be slow, but finite
# so a broken setup fails loudly instead of hanging the test session.
_INITDB_TIMEOUT = 120.0
_PG_CTL_START_TIMEOUT = 60
_PG_CTL_STOP_TIMEOUT = 30
_READY_TIMEOUT = 30.0
# How often to retry ``pg_ctl start`` on a fresh port: the port is chosen by
# binding to port 0 and releasing it, so another process may grab it in the
# meantime (rare, but cheap to tolerate).
_START_ATTEMPTS = 3


# ---------------------------------------------------------------------------
# Server handle
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PgServer:
    """A running throwaway PostgreSQL server.

    ``datadir`` is the cluster directory; ``workdir`` is the temporary
    directory holding it together with the log file and the unix socket, and
    is deleted by :func:`stop_server`.  ``os_user`` is the system user the
    server runs as when it had to be started on behalf of root, else ``None``.
    """

    port: int
    user: str
    password: str
    datadir: Path
    bindir: Path
    workdir: Path
    os_user: str | None = None
    host: str = "127.0.0.1"
    database: str = "postgres"

    @property
    def log_file(self) -> Path:
        """Server log (``pg_ctl -l``)."""
        return self.workdir / "postgresql.log"

    @property
    def socket_dir(self) -> Path:
        """Directory holding the server's unix-domain socket."""
        return self.workdir / "socket"

    def dsn(self, database: str | None = None) -> str:
        """libpq conninfo string (with password) for ``database``.

        Defaults to the maintenance database ``postgres``.
        """
        return make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database or self.database,
        )

    def redacted_dsn(self, database: str | None = None) -> str:
        """Like :meth:`dsn` but without the password, safe to print or log."""
        return make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname=database or self.database,
        )

    def create_database(self, name: str, template: str | None = None) -> None:
        """Create database ``name``: empty, or a copy of database ``template``.

        Copying a migrated template is a file copy on the server, much faster
        than applying every revision again for each test.
        """
        ident = _database_identifier(name)
        query = sql.SQL("CREATE DATABASE {}").format(ident)
        if template is not None:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                ident, _database_identifier(template)
            )
        # CREATE/DROP DATABASE cannot run inside a transaction block.
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(query)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions.

        ``WITH (FORCE)`` (PostgreSQL 13+) terminates connections a test may
        have leaked (e.g. an unclosed pool) instead of failing the teardown.
        """
        ident = _database_identifier(name)
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident)
            )


def _database_identifier(name: str) -> sql.Identifier:
    if not _DB_NAME_RE.fullmatch(name):
        raise ValueError(
            f"invalid database name {name!r}: must match {_DB_NAME_RE.pattern}"
        )
    return sql.Identifier(name)


# ---------------------------------------------------------------------------
# Locating (and, as root, installing) the server binaries
# ---------------------------------------------------------------------------


def _has_server_tools(bindir: Path) -> bool:
    return (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file()


def _version_key(bindir: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin; versions look like "16" or "9.6".
    try:
        return tuple(int(part) for part in bindir.parent.name.split("."))
    except ValueError:
        return (-1,)


#: Environment variable naming the directory holding ``initdb`` and ``pg_ctl``;
#: overrides the search below.
BINDIR_ENV = "SYNTHORG_PG_BINDIR"


def find_bindir() -> Path | None:
    """Directory containing ``initdb`` and ``pg_ctl``, or ``None``.

    In order: ``$SYNTHORG_PG_BINDIR`` (used alone when set, so a wrong value
    is reported rather than silently replaced); the highest version of
    Debian/Ubuntu's side-by-side layout (``/usr/lib/postgresql/<version>/bin``);
    the directory of an ``initdb`` on ``PATH`` (Homebrew, Fedora, Nix, ...);
    whatever ``pg_config --bindir`` reports.  ``pg_config`` alone is not
    enough: it also ships with the client development package, so the
    directory is checked for the tools.
    """
    configured = os.environ.get(BINDIR_ENV)
    if configured:
        path = Path(configured).expanduser()
        return path if _has_server_tools(path) else None

    candidates = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if _has_server_tools(p)),
        key=_version_key,
        reverse=True,
    )
    if candidates:
        return candidates[0]

    initdb = shutil.which("initdb")
    if initdb is not None and _has_server_tools(Path(initdb).resolve().parent):
        return Path(initdb).resolve().parent

    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"],
                check=True,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and _has_server_tools(Path(out)):
            return Path(out)
    return None


def ensure_binaries() -> Path:
    """Return the PostgreSQL server ``bindir``, installing it as root if needed.

    Installation uses Debian's ``postgresql`` package via ``apt-get`` and only
    happens when running as root; otherwise a :class:`RuntimeError` explains
    what to install.
    """
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    configured = os.environ.get(BINDIR_ENV)
    if configured:
        raise RuntimeError(
            f"${BINDIR_ENV}={configured!r} does not contain the PostgreSQL "
            "server binaries initdb and pg_ctl."
        )

    if os.geteuid() == 0 and shutil.which("apt-get") is not None:
        print(
            "pgserver: PostgreSQL server binaries not found; "
            "installing Debian package 'postgresql' with apt-get ...",
            file=sys.stderr,
            flush=True,
        )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], check=True, env=env)
        subprocess.run(
            [
                "apt-get",
                "install",
                "-y",
                "--no-install-recommends",
                "postgresql",
            ],
            check=True,
            env=env,
        )
        bindir = find_bindir()
        if bindir is not None:
            return bindir

    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found. Install them, "
        "e.g. `sudo apt-get install postgresql` on Debian/Ubuntu, "
        "`brew install postgresql` on macOS, or set "
        f"${BINDIR_ENV} to the directory containing initdb and pg_ctl "
        "(`pg_config --bindir` of a server installation)."
    )


# ---------------------------------------------------------------------------
# Running commands (as an unprivileged user when we are root)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _OsUser:
    name: str
    uid: int
    gid: int


def _server_os_user() -> _OsUser | None:
    """The system user to run PostgreSQL as, or ``None`` to run as ourselves.

    Only relevant for root: postgres exits with "root execution of the
    PostgreSQL server is not permitted".
    """
    if os.geteuid() != 0:
        return None
    for name in ("postgres", FALLBACK_OS_USER):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _OsUser(name, entry.pw_uid, entry.pw_gid)

    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--user-group",
            "--shell",
            "/usr/sbin/nologin",
            FALLBACK_OS_USER,
        ],
        check=True,
        capture_output=True,
    )
    entry = pwd.getpwnam(FALLBACK_OS_USER)
    return _OsUser(FALLBACK_OS_USER, entry.pw_uid, entry.pw_gid)


def _child_env(workdir: Path) -> dict[str, str]:
    # Drop PG* variables (PGDATA, PGPORT, PGHOST, ...) that would silently
    # redirect pg_ctl/initdb, and point HOME somewhere the server user can read.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["HOME"] = str(workdir)
    return env


def _run(
    args: Sequence[str | os.PathLike[str]],
    *,
    os_user: _OsUser | None,
    workdir: Path,
    timeout: float,
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` (as ``os_user`` if given), capturing output, never raising.

    stdin is /dev/null and the cwd is ``workdir`` (root's cwd may not be
    readable by the server user, which makes initdb complain).
    """
    return subprocess.run(
        [os.fspath(a) for a in args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=workdir,
        env=_child_env(workdir),
        timeout=timeout,
        check=False,
        # None means "do not switch"; extra_groups=[] also drops root's
        # supplementary groups.
        user=os_user.uid if os_user is not None else None,
        group=os_user.gid if os_user is not None else None,
        extra_groups=[] if os_user is not None else None,
    )


def _chown_tree(path: Path, os_user: _OsUser) -> None:
    os.chown(path, os_user.uid, os_user.gid)
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), os_user.uid, os_user.gid)


# ---------------------------------------------------------------------------
# Start / stop
# ---------------------------------------------------------------------------

# Servers started by this process and not yet stopped; the atexit hook stops
# whatever is left here.
_live: dict[Path, PgServer] = {}
_live_lock = threading.Lock()


def _free_port() -> int:
    # Let the kernel pick a free port, then release it for postgres to bind.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(log_file: Path, lines: int = 40) -> str:
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


def _fail(
    what: str,
    proc: subprocess.CompletedProcess[str] | None,
    log_file: Path,
) -> RuntimeError:
    parts = [f"pgserver: {what} failed"]
    if proc is not None:
        parts.append(f"exit status {proc.returncode}")
        if proc.stdout.strip():
            parts.append(f"stdout:\n{proc.stdout.strip()}")
        if proc.stderr.strip():
            parts.append(f"stderr:\n{proc.stderr.strip()}")
    parts.append(f"server log tail ({log_file}):\n{_log_tail(log_file)}")
    return RuntimeError("\n".join(parts))


def _settings(
    *, port: int, socket_dir: Path, fsync: bool, crash_safe: bool = False
) -> str:
    lines = [
        "# Added by synthorg.persistence.testing.pgserver",
        "listen_addresses = '127.0.0.1'",
        f"port = {port}",
        f"unix_socket_directories = '{socket_dir}'",
        "max_connections = 200",
        # Logging goes to pg_ctl's -l file; keep the collector out of it.
        "logging_collector = off",
    ]
    if not fsync:
        # Disposable test data: trade crash safety for speed.
        lines += ["fsync = off", "full_page_writes = off"]
        if not crash_safe:
            lines.append("synchronous_commit = off")
        # crash_safe: a COMMIT still waits for its WAL write(), so a killed
        # server (not a killed host) keeps every acknowledged commit in the
        # OS cache, without paying for fsync.
    return "\n".join(lines) + "\n"


def _set_port(conf: Path, port: int) -> None:
    # Later settings win in postgresql.conf, so appending overrides the port.
    with conf.open("a") as fh:
        fh.write(f"port = {port}\n")


def _wait_ready(server: PgServer) -> None:
    """Poll with a real password-authenticated TCP connection until it works.

    ``pg_ctl -w`` already waits, but it checks via the unix socket; this makes
    sure the exact path the tests use (TCP + scram) is up.
    """
    deadline = time.monotonic() + _READY_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(server.dsn(), connect_timeout=5) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            last_error = exc
            time.sleep(0.1)
    raise RuntimeError(
        f"pgserver: server not accepting connections after {_READY_TIMEOUT}s: "
        f"{last_error}\nserver log tail ({server.log_file}):\n"
        f"{_log_tail(server.log_file)}"
    )


def start_server(*, fsync: bool = False, crash_safe: bool = False) -> PgServer:
    """initdb a fresh cluster in a temporary directory and start it.

    ``crash_safe`` (for fault tests) keeps ``synchronous_commit`` on while
    ``fsync`` is off: an acknowledged commit survives a crash of the server
    processes, which is what an immediate stop simulates.

    Returns once the server accepts password-authenticated TCP connections.
    Raises :class:`RuntimeError` (including the server log tail) on failure.
    Call :func:`stop_server` when done, or use :func:`running_server`.
    """
    bindir = ensure_binaries()
    os_user = _server_os_user()

    workdir = Path(tempfile.mkdtemp(prefix="synthorg-pg-"))
    try:
        return _start_in(
            workdir, bindir=bindir, os_user=os_user, fsync=fsync, crash_safe=crash_safe
        )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _start_in(
    workdir: Path,
    *,
    bindir: Path,
    os_user: _OsUser | None,
    fsync: bool,
    crash_safe: bool = False,
) -> PgServer:
    datadir = workdir / "data"
    socket_dir = workdir / "socket"
    log_file = workdir / "postgresql.log"
    pwfile = workdir / "pwfile"
    password = secrets.token_urlsafe(24)

    socket_dir.mkdir(mode=0o700)
    # The password file must be readable by initdb only; it is deleted
    # straight after initdb so the password is not left on disk.
    pwfile.touch(mode=0o600)
    pwfile.write_text(password + "\n")
    log_file.touch(mode=0o600)
    if os_user is not None:
        # mkdtemp creates a 0700 directory owned by root; hand it over.  The
        # parent ($TMPDIR, normally /tmp) must be traversable by that user.
        _chown_tree(workdir, os_user)

    proc = _run(
        [
            bindir / "initdb",
            "-D",
            datadir,
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
            # C collation: deterministic ordering regardless of host locales.
            "--no-locale",
            # Skip initdb's own fsync of the new cluster; it is throwaway.
            *([] if fsync else ["--no-sync"]),
        ],
        os_user=os_user,
        workdir=workdir,
        timeout=_INITDB_TIMEOUT,
    )
    pwfile.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise _fail("initdb", proc, log_file)

    conf = datadir / "postgresql.conf"
    port = _free_port()
    with conf.open("a") as fh:
        fh.write(
            _settings(
                port=port, socket_dir=socket_dir, fsync=fsync, crash_safe=crash_safe
            )
        )

    for attempt in range(1, _START_ATTEMPTS + 1):
        proc = _run(
            [
                bindir / "pg_ctl",
                "start",
                "-D",
                datadir,
                "-l",
                log_file,
                "-w",
                "-t",
                str(_PG_CTL_START_TIMEOUT),
            ],
            os_user=os_user,
            workdir=workdir,
            timeout=_PG_CTL_START_TIMEOUT + 30,
        )
        if proc.returncode == 0:
            break
        port_taken = "could not bind" in _log_tail(log_file, lines=20)
        if attempt == _START_ATTEMPTS or not port_taken:
            # Make sure a half-started postmaster does not linger.
            _run(
                [bindir / "pg_ctl", "stop", "-D", datadir, "-m", "immediate"],
                os_user=os_user,
                workdir=workdir,
                timeout=_PG_CTL_STOP_TIMEOUT,
            )
            raise _fail("pg_ctl start", proc, log_file)
        port = _free_port()
        _set_port(conf, port)

    server = PgServer(
        port=port,
        user=SUPERUSER,
        password=password,
        datadir=datadir,
        bindir=bindir,
        workdir=workdir,
        os_user=os_user.name if os_user is not None else None,
    )
    with _live_lock:
        _live[workdir] = server
    try:
        _wait_ready(server)
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: PgServer) -> None:
    """Stop ``server`` (``pg_ctl stop -m fast``) and delete its directory.

    Idempotent; never raises for a server that is already gone.
    """
    with _live_lock:
        _live.pop(server.workdir, None)
    # A server a fault test left frozen would never shut down.
    with contextlib.suppress(OSError, ValueError, IndexError):  # not running
        thaw_server(server_pids(server))
    if server.datadir.exists():
        os_user = _server_os_user() if server.os_user is not None else None
        proc = _run(
            [
                server.bindir / "pg_ctl",
                "stop",
                "-D",
                server.datadir,
                "-m",
                "fast",
                "-w",
                "-t",
                str(_PG_CTL_STOP_TIMEOUT),
            ],
            os_user=os_user,
            workdir=server.workdir,
            timeout=_PG_CTL_STOP_TIMEOUT + 30,
        )
        if proc.returncode != 0 and "Is server running?" not in proc.stderr:
            # Fast shutdown timed out (e.g. stuck backend): do not leave it.
            _run(
                [
                    server.bindir / "pg_ctl",
                    "stop",
                    "-D",
                    server.datadir,
                    "-m",
                    "immediate",
                ],
                os_user=os_user,
                workdir=server.workdir,
                timeout=_PG_CTL_STOP_TIMEOUT + 30,
            )
    shutil.rmtree(server.workdir, ignore_errors=True)


# ---------------------------------------------------------------------------
# Server faults: crash (immediate stop), restart, freeze / thaw
# ---------------------------------------------------------------------------


def _postmaster_pid(server: PgServer) -> int:
    """The running postmaster's pid, from ``postmaster.pid``."""
    text = (server.datadir / "postmaster.pid").read_text()
    return int(text.split()[0])


def _children(pid: int) -> list[int]:
    """Direct children of ``pid``, read from ``/proc`` (no ``ps`` needed)."""
    kids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process exited meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            kids.append(int(entry.name))
    return kids


def server_pids(server: PgServer) -> list[int]:
    """The postmaster and all its children (backends, background workers)."""
    pid = _postmaster_pid(server)
    return [pid, *_children(pid)]


def freeze_server(server: PgServer) -> list[int]:
    """SIGSTOP the postmaster, then every child: a server that stops answering.

    No FIN, no RST: the kernel still accepts and acknowledges TCP traffic,
    nothing answers it. The postmaster is stopped first so it cannot fork a
    new backend meanwhile. Returns the stopped pids for :func:`thaw_server`.
    """
    pid = _postmaster_pid(server)
    os.kill(pid, signal.SIGSTOP)
    stopped = [pid]
    for child in _children(pid):
        try:
            os.kill(child, signal.SIGSTOP)
        except ProcessLookupError:
            continue
        stopped.append(child)
    return stopped


def thaw_server(pids: Sequence[int]) -> None:
    """SIGCONT what :func:`freeze_server` stopped (children first)."""
    for pid in reversed(pids):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            continue


def _pg_ctl(server: PgServer, *args: str | os.PathLike[str], timeout: float) -> None:
    os_user = _server_os_user() if server.os_user is not None else None
    proc = _run(
        [server.bindir / "pg_ctl", *args, "-D", server.datadir],
        os_user=os_user,
        workdir=server.workdir,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise _fail(f"pg_ctl {args[0]}", proc, server.log_file)


def crash_server(server: PgServer) -> None:
    """``pg_ctl stop -m immediate``: every backend exits at once, no checkpoint.

    Clients see their connections closed (the server's "terminating
    connection" message, then EOF). The data directory stays for
    :func:`resume_server`.
    """
    _pg_ctl(server, "stop", "-m", "immediate", "-w", timeout=_PG_CTL_STOP_TIMEOUT + 30)


def resume_server(server: PgServer) -> None:
    """Start a stopped ``server`` again on the same port and data directory.

    Runs crash recovery after :func:`crash_server`; returns once a password
    authenticated TCP connection works.
    """
    _pg_ctl(
        server,
        "start",
        "-l",
        server.log_file,
        "-w",
        "-t",
        str(_PG_CTL_START_TIMEOUT),
        timeout=_PG_CTL_START_TIMEOUT + 30,
    )
    _wait_ready(server)


def restart_server(server: PgServer) -> None:
    """Immediate stop, then start again on the same port and data directory."""
    crash_server(server)
    resume_server(server)


@atexit.register
def _stop_leftovers() -> None:
    with _live_lock:
        leftovers = list(_live.values())
    for server in leftovers:
        try:
            stop_server(server)
        except Exception as exc:  # best effort at interpreter exit
            print(f"pgserver: could not stop {server.workdir}: {exc}", file=sys.stderr)


@contextmanager
def running_server(*, fsync: bool = False) -> Iterator[PgServer]:
    """Context manager: :func:`start_server` on entry, :func:`stop_server` on exit."""
    server = start_server(fsync=fsync)
    try:
        yield server
    finally:
        stop_server(server)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; ``--check`` runs the smoke check and returns 0."""
    parser = argparse.ArgumentParser(
        prog="python -m synthorg.persistence.testing.pgserver",
        description="Start a throwaway PostgreSQL server (smoke check).",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="start a server, run SELECT version(), stop it",
    )
    parser.add_argument(
        "--fsync", action="store_true", help="keep fsync on (benchmark settings)"
    )
    args = parser.parse_args(argv)
    if not args.check:
        parser.print_help()
        return 2

    started = time.monotonic()
    with running_server(fsync=args.fsync) as server:
        elapsed = time.monotonic() - started
        print(f"dsn: {server.redacted_dsn()}")
        print(f"run as: {server.os_user or 'current user'}; datadir: {server.datadir}")
        print(f"startup: {elapsed:.2f}s")
        with psycopg.connect(server.dsn()) as conn:
            row = conn.execute("SELECT version()").fetchone()
            fsync_row = conn.execute("SHOW fsync").fetchone()
        print(f"version: {row[0] if row else '?'}")
        print(f"fsync: {fsync_row[0] if fsync_row else '?'}")
    print("ok: server stopped and removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
