"""Child process of ``test_sqlite_crash``: write until killed.

``python -m tests.faults._crash_writer <db path> <seed>`` writes tasks to an
already migrated SQLite database through the backend, alternating single
saves and ``save_many`` batches, and prints to stdout (flushed):

* ``try <id> <id> ...`` before each write,
* ``ack <id> <id> ...`` after the write's await returned (acknowledged).

The parent kills it with SIGKILL at a random moment.
"""

from __future__ import annotations

import asyncio
import random
import sys

from synthorg.persistence import (
    PersistenceConfig,
    SQLiteConfig,
    Task,
    TaskType,
    create_backend,
)


def task(task_id: str) -> Task:
    return Task(
        id=task_id,
        title=f"Title of {task_id}",
        type=TaskType.DEVELOPMENT,
        project="crash",
        created_by="writer",
    )


def say(*words: str) -> None:
    sys.stdout.write(" ".join(words) + "\n")
    sys.stdout.flush()


async def main(path: str, seed: str) -> None:
    rng = random.Random(seed)
    backend = create_backend(PersistenceConfig(sqlite=SQLiteConfig(path=path)))
    await backend.connect()
    say("ready")
    n = 0
    while True:
        size = 1 if rng.random() < 0.5 else rng.randint(2, 40)
        ids = [f"{seed}-{n + i}" for i in range(size)]
        n += size
        say("try", *ids)
        if size == 1:
            await backend.tasks.save(task(ids[0]))
        else:
            await backend.tasks.save_many([task(i) for i in ids])
        say("ack", *ids)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
