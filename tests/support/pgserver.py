"""Re-export of :mod:`synthorg.persistence.testing.pgserver`.

The throwaway PostgreSQL server starter ships in the package now (users'
tests get it through the ``synthorg.persistence.testing`` pytest plugin);
this module keeps ``from tests.support.pgserver import ...`` working.
"""

from synthorg.persistence.testing.pgserver import (
    BINDIR_ENV,
    PgServer,
    crash_server,
    ensure_binaries,
    find_bindir,
    freeze_server,
    restart_server,
    resume_server,
    running_server,
    server_pids,
    start_server,
    stop_server,
    thaw_server,
)

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
