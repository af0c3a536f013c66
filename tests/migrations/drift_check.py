"""``make drift-check``: revisions and the desired-state DDL must agree.

Builds a fresh SQLite database and a fresh PostgreSQL database (on the
throwaway server of :mod:`synthorg.persistence.testing.pgserver`) by applying every
generated revision through ``backend.migrate()``, then runs the live drift
check against each. Exit status 1, naming each difference, when a database
built from the revisions differs from ``generated/ddl/<dialect>.sql``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from pydantic import SecretStr

from synthorg.persistence import (
    PersistenceConfig,
    PostgresConfig,
    SQLiteConfig,
    create_backend,
)
from synthorg.persistence.drift import check_drift
from synthorg.persistence.testing.pgserver import running_server


async def _drift(config: PersistenceConfig) -> list[str]:
    backend = create_backend(config)
    await backend.connect()
    try:
        await backend.migrate()
        return await check_drift(backend)
    finally:
        await backend.disconnect()


def main() -> int:
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="drift-") as tmp:
        sqlite = PersistenceConfig(
            backend="sqlite", sqlite=SQLiteConfig(path=str(Path(tmp) / "drift.db"))
        )
        failures += [f"sqlite: {p}" for p in asyncio.run(_drift(sqlite))]
    with running_server() as server:
        server.create_database("drift_check")
        postgres = PersistenceConfig(
            backend="postgres",
            postgres=PostgresConfig(
                host=server.host,
                port=server.port,
                database="drift_check",
                username=server.user,
                password=SecretStr(server.password),
                pool_min_size=1,
                pool_max_size=2,
            ),
        )
        failures += [f"postgres: {p}" for p in asyncio.run(_drift(postgres))]
    if failures:
        print(
            "drift check: the revisions disagree with the desired DDL:\n  "
            + "\n  ".join(failures),
            file=sys.stderr,
        )
        return 1
    print("drift check: SQLite and PostgreSQL built from the revisions match")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
