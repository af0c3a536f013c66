"""Child processes of ``make bench-scale``: peak memory, and one of N writers.

Run as ``python -m bench.scale_child``; the first stdin line is a JSON job
(never argv: it holds the throwaway server's password).

* ``{"task": "mem", "target": …, "rows": n, "how": "load_all"|"stream"}``:
  open the implementation, reset the peak RSS, read the whole containers
  table (``load_all``: every model kept; ``stream``: one alive at a time,
  the generated ``iter_load_all`` or the floor's cursor), print
  ``{"peak_bytes", "rss_before", "seconds", "rows"}``.
* ``{"task": "worker", "target": …, "proc": i, "rounds": r, …}``: build every
  round's operations, print ``ready``; then per ``go`` line run them with a
  few coroutines and print what was acknowledged (appended ids, the titles
  of acknowledged upserts of the shared hot rows), errors and wall times.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import make_task, task_id, updated
from bench.scale_data import PROJECTS, make_event
from bench.scale_impls import ScaleImpl, Target, build

HOT = 16
"""Rows every writer process upserts (last writer wins; none may be torn)."""


def mp_prefix(rnd: int) -> str:
    """Id prefix of the rows appended in round ``rnd`` (sorts after evt-)."""
    return f"mp{rnd:02d}-"


def _rss() -> int:
    """Current resident set size in bytes."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> bool:
    """Reset VmHWM (Linux >= 4.0: ``5 > /proc/self/clear_refs``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak() -> int:
    """Peak RSS in bytes: VmHWM (resettable), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def _mem(job: dict[str, Any]) -> dict[str, Any]:
    impl = build(Target(**job["target"]))
    await impl.open()
    try:
        await impl.load_all(10)  # statements prepared, threads and pools up
        gc.collect()
        _reset_peak()
        before = _rss()
        started = time.perf_counter()
        if job["how"] == "stream":
            n = await impl.stream_all()
        else:
            n = await impl.load_all(int(job["rows"]))
        seconds = time.perf_counter() - started
        peak = _peak()
    finally:
        await impl.close()
    return {"rows": n, "seconds": seconds, "rss_before": before, "peak_bytes": peak}


async def _round(
    impl: ScaleImpl, ops: list[tuple[str, Any]], coroutines: int
) -> dict[str, Any]:
    acked: list[str] = []
    titles: dict[str, list[str]] = {}
    errors: list[str] = []
    queue = iter(ops)

    async def worker() -> None:
        for op, arg in queue:
            try:
                if op == "append":
                    await impl.append(arg)
                    acked.append(arg.id)
                elif op == "upsert":
                    await impl.upsert(arg)
                    titles.setdefault(arg.id, []).append(arg.title)
                else:
                    await impl.get(arg)
            except Exception as exc:  # counted and reported, never hidden
                errors.append(f"{op}: {type(exc).__name__}: {exc}"[:300])

    start = time.time()
    await asyncio.gather(*(worker() for _ in range(coroutines)))
    end = time.time()
    return {
        "start": start,
        "end": end,
        "ops": len(ops),
        "acked": acked,
        "titles": titles,
        "errors": errors,
    }


def _ops(job: dict[str, Any], rnd: int) -> list[tuple[str, Any]]:
    proc = int(job["proc"])
    rng = random.Random(proc * 1000 + rnd)
    ops: list[tuple[str, Any]] = []
    for j in range(int(job["appends"])):
        eid = f"{mp_prefix(rnd)}{proc:02d}-{j:06d}"
        ops.append(("append", make_event(j, eid=eid)))
    for j in range(int(job["upserts"])):
        h = rng.randrange(HOT)
        t = updated(make_task(h, PROJECTS), 1)
        ops.append(
            ("upsert", t.model_copy(update={"title": f"mp r{rnd} p{proc} n{j}"}))
        )
    for _ in range(int(job["gets"])):
        ops.append(("get", task_id(rng.randrange(int(job["rows"])))))
    rng.shuffle(ops)
    return ops


async def _worker(job: dict[str, Any]) -> None:
    impl = build(Target(**job["target"]))
    await impl.open()
    try:
        for i in range(20):
            await impl.get(task_id(i))
        rounds = [_ops(job, r) for r in range(int(job["rounds"]))]
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        for rnd, ops in enumerate(rounds):
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line.startswith("go"):
                break
            result = await _round(impl, ops, int(job["coroutines"]))
            result["round"] = rnd
            result["proc"] = job["proc"]
            print(json.dumps(result), flush=True)
    finally:
        await impl.close()


def main() -> int:
    """Read the job from stdin and run it."""
    job = json.loads(sys.stdin.readline())
    if job["task"] == "mem":
        print(json.dumps(asyncio.run(_mem(job))), flush=True)
    else:
        asyncio.run(_worker(job))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
