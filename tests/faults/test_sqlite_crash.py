"""kill -9 of a SQLite writer process: nothing acknowledged is lost.

A child process (:mod:`tests.faults._crash_writer`) writes through the
backend (single saves and ``save_many`` batches) and prints each id once
the write's await returned. The parent kills it with SIGKILL at a seeded
random moment, then reopens the file: ``PRAGMA integrity_check`` is ``ok``,
every acknowledged id is stored, every batch is all or nothing, and a
normal write works. WAL with ``synchronous = NORMAL`` is durable across a
process crash (not across power loss: see docs/reliability.md).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthorg.persistence import PersistenceConfig, SQLiteConfig, create_backend
from tests.faults._soak import report, trials

ROOT = Path(__file__).resolve().parents[2]


def run_and_kill(
    path: Path, seed: str, delay: float
) -> tuple[list[list[str]], set[str]]:
    """The attempted batches and the acknowledged ids of one killed writer."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.faults._crash_writer", str(path), seed],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    try:
        assert child.stdout is not None
        ready = child.stdout.readline()
        assert ready == b"ready\n", ready
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        out = child.stdout.read()
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    attempted: list[list[str]] = []
    acknowledged: set[str] = set()
    for line in out.decode().split("\n")[:-1]:  # a torn last line is no ack
        word, *ids = line.split()
        if word == "try":
            attempted.append(ids)
        elif word == "ack":
            acknowledged.update(ids)
    return attempted, acknowledged


async def test_kill_9_loses_no_acknowledged_write(
    sqlite_template: Path, tmp_path: Path
) -> None:
    rng = random.Random("sqlite-crash")
    total_trials = trials(3)
    total_acked = 0
    lost = 0
    for trial in range(total_trials):
        path = tmp_path / f"crash-{trial}.db"
        shutil.copyfile(sqlite_template, path)
        attempted, acked = run_and_kill(path, f"t{trial}", rng.uniform(0.05, 0.6))
        assert acked, "the writer acknowledged nothing before it was killed"

        check = sqlite3.connect(path)
        try:
            assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            stored = {r[0] for r in check.execute("SELECT id FROM tasks")}
        finally:
            check.close()
        missing = acked - stored
        lost += len(missing)
        assert not missing, (
            f"trial {trial}: acknowledged but lost: {sorted(missing)[:5]}"
        )
        for batch in attempted:
            present = sum(1 for i in batch if i in stored)
            assert present in (0, len(batch)), f"trial {trial}: torn batch {batch[:3]}"
        total_acked += len(acked)

        backend = create_backend(PersistenceConfig(sqlite=SQLiteConfig(path=str(path))))
        await backend.connect()
        try:
            await backend.migrate()
            from tests.faults._crash_writer import task

            await backend.tasks.save(task(f"after-{trial}"))
            assert await backend.tasks.get(f"after-{trial}") is not None
        finally:
            await backend.disconnect()
    report(
        "sqlite kill -9",
        trials=total_trials,
        acknowledged=total_acked,
        lost=lost,
    )
    assert lost == 0


pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGKILL"), reason="needs POSIX signals"
)
