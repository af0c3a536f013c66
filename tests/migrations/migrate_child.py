"""One process of the two-process migrate test: connect, migrate, disconnect.

``KIND`` is ``sqlite`` or ``postgres``; ``WHERE`` the SQLite path or
``host|port|database|user|password``.
"""

from __future__ import annotations

import asyncio
import os

from pydantic import SecretStr

from synthorg.persistence import (
    PersistenceConfig,
    PostgresConfig,
    SQLiteConfig,
    create_backend,
)


async def main() -> None:
    where = os.environ["WHERE"]
    if os.environ["KIND"] == "sqlite":
        config = PersistenceConfig(backend="sqlite", sqlite=SQLiteConfig(path=where))
    else:
        host, port, database, user, password = where.split("|")
        config = PersistenceConfig(
            backend="postgres",
            postgres=PostgresConfig(
                host=host,
                port=int(port),
                database=database,
                username=user,
                password=SecretStr(password),
                pool_min_size=1,
                pool_max_size=2,
            ),
        )
    backend = create_backend(config)
    await backend.connect()
    await backend.migrate()
    await backend.disconnect()
    print("ok")


if __name__ == "__main__":
    asyncio.run(main())
