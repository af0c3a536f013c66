"""Two OS processes share one database: lockouts agree between them.

Issue 9, defect 14. Each child (``tests/faults/lockout_child.py``) holds its
own backend and ``build_lockouts`` instance, as two application workers
would. A lockout recorded by one is honoured by the other, and an unlock
or a successful login in one is seen by the other at once (the lockout
service keeps no in-process answer that another process could outdate).
Both backends.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from synthorg.persistence import PersistenceConfig, create_backend
from tests.faults._soak import report, trials

THRESHOLD = 3
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _where(config: PersistenceConfig) -> str:
    if config.backend == "sqlite":
        assert config.sqlite is not None
        return config.sqlite.path
    pg = config.postgres
    assert pg is not None
    return "|".join(
        [
            pg.host,
            str(pg.port),
            pg.database,
            pg.username,
            pg.password.get_secret_value(),
        ]
    )


class Child:
    """A lockout child process, one command and one answer at a time."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def ask(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=60)
        answer = line.decode().strip()
        assert not answer.startswith("error"), f"{command}: {answer}"
        return answer


@asynccontextmanager
async def child(config: PersistenceConfig) -> AsyncIterator[Child]:
    env = {
        **os.environ,
        "KIND": config.backend,
        "WHERE": _where(config),
        "THRESHOLD": str(THRESHOLD),
        "PYTHONPATH": ROOT,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.faults.lockout_child",
        env=env,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        ready = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        if ready.decode().strip() != "ready":
            assert proc.stderr is not None
            raise AssertionError((await proc.stderr.read()).decode())
        yield Child(proc)
    finally:
        if proc.returncode is None and proc.stdin is not None:
            proc.stdin.write(b"quit\n")
            await proc.stdin.drain()
        try:
            await asyncio.wait_for(proc.wait(), timeout=30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def test_lockouts_agree_between_two_processes(
    backend_config: PersistenceConfig,
) -> None:
    setup = create_backend(backend_config)
    await setup.connect()
    await setup.migrate()
    await setup.disconnect()
    rounds = trials(2)
    async with child(backend_config) as a, child(backend_config) as b:
        for i in range(rounds):
            user = f"user-{i}"
            # Both have looked at the user before anything happened.
            assert await a.ask(f"locked {user}") == "False"
            assert await b.ask(f"locked {user}") == "False"
            # A records failures until locked; B honours the lockout.
            answers = [await a.ask(f"fail {user}") for _ in range(THRESHOLD)]
            assert answers == ["False"] * (THRESHOLD - 1) + ["True"]
            assert await a.ask(f"locked {user}") == "True"
            assert await b.ask(f"locked {user}") == "True"
            # B lifts it by hand: A sees it at once (it had seen it locked).
            assert await b.ask(f"unlock {user}") == "True"
            assert await a.ask(f"locked {user}") == "False"
            assert await b.ask(f"locked {user}") == "False"
            # B locks it again; a successful login in A clears it for B.
            answers = [await b.ask(f"fail {user}") for _ in range(THRESHOLD)]
            assert answers[-1] == "True"
            assert await a.ask(f"locked {user}") == "True"
            assert await a.ask(f"success {user}") == "None"
            assert await b.ask(f"locked {user}") == "False"
            # Failures counted by both processes add up to one lockout.
            assert await a.ask(f"fail {user}") == "False"
            assert await b.ask(f"fail {user}") == "False"
            assert await a.ask(f"fail {user}") == "True"
            assert await b.ask(f"locked {user}") == "True"
    report(
        f"lockout_processes[{backend_config.backend}]",
        trials=rounds,
        processes=2,
    )
