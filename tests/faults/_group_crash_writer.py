"""Child process of ``test_sqlite_group_crash``: concurrent writers until killed.

``python -m tests.faults._group_crash_writer <db path> <seed>`` runs 16
tasks that each save new tasks one at a time through one backend, so their
writes queue and commit in groups. Prints to stdout (flushed):

* ``ack <id> <groups>`` after a save's await returned (acknowledged), with
  the number of groups committed so far.

The parent kills it with SIGKILL at a random moment.
"""

from __future__ import annotations

import asyncio
import sys

from synthorg.persistence import PersistenceConfig, SQLiteConfig, create_backend
from synthorg.persistence.sqlite.driver import Connections
from tests.faults._crash_writer import say, task

WRITERS = 16


async def main(path: str, seed: str) -> None:
    backend = create_backend(PersistenceConfig(sqlite=SQLiteConfig(path=path)))
    await backend.connect()
    conns = backend.tasks.executor
    assert isinstance(conns, Connections)
    say("ready")

    async def writer(w: int) -> None:
        n = 0
        while True:
            tid = f"{seed}-{w}-{n}"
            n += 1
            await backend.tasks.save(task(tid))
            say("ack", tid, str(conns.group.groups))

    await asyncio.gather(*(writer(w) for w in range(WRITERS)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
