"""kill -9 of a process whose SQLite writes commit in groups: nothing acked lost.

A child process (:mod:`tests.faults._group_crash_writer`) runs 16
concurrent writers on one backend, so their saves commit in groups, and
prints each id once its await returned. The parent kills it with SIGKILL
at seeded random moments (mostly while a group is on the writer thread),
then reopens the file: ``PRAGMA integrity_check`` is ``ok``, every
acknowledged id is stored, groups were committed, and a normal write works.
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
from tests.faults._crash_writer import task
from tests.faults._soak import report, trials

ROOT = Path(__file__).resolve().parents[2]


def run_and_kill(path: Path, seed: str, delay: float) -> tuple[set[str], int]:
    """The acknowledged ids of one killed writer and the groups it reported."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.faults._group_crash_writer", str(path), seed],
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
    acknowledged: set[str] = set()
    groups = 0
    for line in out.decode().split("\n")[:-1]:  # a torn last line is no ack
        word, *rest = line.split()
        if word == "ack" and len(rest) == 2:
            acknowledged.add(rest[0])
            groups = max(groups, int(rest[1]))
    return acknowledged, groups


async def test_kill_9_during_group_commits_loses_no_acknowledged_write(
    sqlite_template: Path, tmp_path: Path
) -> None:
    rng = random.Random("sqlite-group-crash")
    total_trials = trials(3)
    total_acked = 0
    total_groups = 0
    lost = 0
    for trial in range(total_trials):
        path = tmp_path / f"group-crash-{trial}.db"
        shutil.copyfile(sqlite_template, path)
        acked, groups = run_and_kill(path, f"g{trial}", rng.uniform(0.1, 0.6))
        assert acked, "the writers acknowledged nothing before the kill"
        assert groups > 0, "no write was committed in a group"
        total_groups += groups

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
        total_acked += len(acked)

        backend = create_backend(PersistenceConfig(sqlite=SQLiteConfig(path=str(path))))
        await backend.connect()
        try:
            await backend.tasks.save(task(f"after-{trial}"))
            assert await backend.tasks.get(f"after-{trial}") is not None
        finally:
            await backend.disconnect()
    report(
        "sqlite kill -9 under group commit",
        trials=total_trials,
        acknowledged=total_acked,
        groups=total_groups,
        lost=lost,
    )
    assert lost == 0


pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGKILL"), reason="needs POSIX signals"
)
