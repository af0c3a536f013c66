"""One OS process of the multi-process lockout test, driven line by line.

``KIND`` is ``sqlite`` or ``postgres``; ``WHERE`` the SQLite path or
``host|port|database|user|password``; ``THRESHOLD`` the lockout threshold.
Reads commands from stdin (``fail <user>``, ``locked <user>``,
``unlock <user>``, ``success <user>``, ``quit``) and answers each with one
line: ``ready`` first, then ``True``/``False`` (or ``None``), or
``error <repr>``.
"""

from __future__ import annotations

import asyncio
import os
import sys

from pydantic import SecretStr

from synthorg.persistence import (
    AuthConfig,
    PersistenceConfig,
    PostgresConfig,
    SQLiteConfig,
    create_backend,
)


def config_from_env() -> PersistenceConfig:
    where = os.environ["WHERE"]
    if os.environ["KIND"] == "sqlite":
        return PersistenceConfig(backend="sqlite", sqlite=SQLiteConfig(path=where))
    host, port, database, user, password = where.split("|")
    return PersistenceConfig(
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


def answer(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main() -> None:
    backend = create_backend(config_from_env())
    await backend.connect()
    lockouts = backend.build_lockouts(
        AuthConfig(lockout_threshold=int(os.environ["THRESHOLD"]))
    )
    answer("ready")
    try:
        while True:
            line = (await asyncio.to_thread(sys.stdin.readline)).split()
            if not line or line[0] == "quit":
                return
            command, user = line
            try:
                if command == "fail":
                    result: object = await lockouts.record_failure(user)
                elif command == "locked":
                    result = await lockouts.is_locked(user)
                elif command == "unlock":
                    result = await lockouts.unlock(user)
                elif command == "success":
                    await lockouts.record_success(user)
                    result = None
                else:
                    result = f"unknown command {command!r}"
            except Exception as exc:  # reported to the parent, which fails
                answer(f"error {exc!r}")
                continue
            answer(str(result))
    finally:
        await backend.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
