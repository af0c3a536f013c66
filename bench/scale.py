# ruff: noqa: S608  (SQL of the checks: quoted names, bound values)
"""``make bench-scale``: how cost grows with table size, concurrency, processes.

``python -m bench.scale [--quick] [--sizes …] [--concurrency …] [--processes …]
[--out DIR] [--doc]``. Per backend (SQLite file in WAL mode; a throwaway
PostgreSQL server with fsync on), one migrated database grows through the
sizes (``bench/scale_data.py``); at each size every implementation
(``bench/scale_impls.py``: generated, the raw-driver floor, a tuned async
driver) runs every operation, interleaved, for ``--trials`` trials:

* point get, upsert, filtered count (``tasks``), append (the log);
* a page of 50 at each OFFSET vs the keyset page at the same position;
* peak memory of reading the whole containers table in one call (child
  processes, ``bench/scale_child.py``), and of streaming it with the
  generated ``iter_load_all`` (keyset batches), vs the floor doing the same
  and the floor streaming it;

and at one size (``--concurrency-rows``): throughput against concurrent
coroutines, and several OS processes on one database (throughput; every
acknowledged write is found, counts add up, shared rows hold a written value).

Everything is written to ``DIR/scale.json`` as it is measured (a run cut
short keeps what it has), then ``bench/plots.py`` draws the PNGs and the
markdown tables; ``--doc`` also puts them in ``docs/benchmarks.md`` and
``docs/img/``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

from bench.common import make_task, project_name, task_id, updated
from bench.scale_child import HOT, mp_prefix
from bench.scale_data import (
    LOG_SQL,
    PAGE,
    PROJECTS,
    TEMPLATES,
    event_id,
    grow_postgres,
    grow_sqlite,
    make_event,
    restyle,
    write_templates,
)
from bench.scale_impls import FLOOR, IMPLS, Generated, ScaleImpl, Target, build

ROOT = Path(__file__).resolve().parent.parent
NEW_PREFIX = "new-"  # appended log rows (sort after evt-; purged after each trial)

Log = Callable[[str], None]


# ----------------------------------------------------------------- timing


async def timed(
    fn: Callable[[Any], Awaitable[Any]],
    args: Sequence[Any],
    budget: float,
    min_n: int,
    max_n: int,
) -> float:
    """Microseconds per call: at least ``min_n`` calls and ``budget`` seconds."""
    gc.collect()
    n = 0
    start = time.perf_counter()
    deadline = start + budget
    while True:
        await fn(args[n % len(args)])
        n += 1
        if n >= max_n or (n >= min_n and time.perf_counter() >= deadline):
            break
    return (time.perf_counter() - start) / n * 1e6


class Db:
    """Untimed housekeeping on the measured database (sync raw connection)."""

    def __init__(self, backend: str, where: str) -> None:
        self.backend = backend
        if backend == "sqlite":
            self._conn: Any = sqlite3.connect(where, isolation_level=None, timeout=60)
            self._style = "?"
        else:
            import psycopg

            self._conn = psycopg.connect(where, autocommit=True)
            self._style = "%s"

    def q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one statement; its rows (if any)."""
        cur = self._conn.execute(restyle(sql, self._style), params)
        return list(cur.fetchall()) if cur.description else []

    def purge_log(self, prefix: str) -> None:
        """Delete the log rows whose id starts with ``prefix``."""
        self.q(LOG_SQL.purge, (prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)))

    def close(self) -> None:
        """Close."""
        self._conn.close()


# --------------------------------------------------------- per-size work


def offsets_for(size: int, offsets: Sequence[int]) -> list[int]:
    """The offsets that leave a full page in a table of ``size`` rows."""
    return [k for k in offsets if k + PAGE <= size]


async def check(impls: Sequence[ScaleImpl], size: int, offsets: Sequence[int]) -> None:
    """Every implementation reads the same, expected data before timing."""
    # Upserts change a row's title and updated_at only (bench.common.updated).
    want_task = make_task(1, PROJECTS).model_dump(exclude={"title", "updated_at"})
    for impl in impls:
        got = await impl.get(task_id(1))
        if got is None or got.model_dump(exclude={"title", "updated_at"}) != want_task:
            raise SystemExit(f"{impl.label}: get(task 1) is not the seeded row")
        n = await impl.count(project_name(3))
        if n != len(range(3, size, PROJECTS)):
            raise SystemExit(f"{impl.label}: count {n} at size {size}")
        for k in offsets_for(size, offsets):
            a = [e.id for e in await impl.page_offset(k)]
            before = None if k == 0 else event_id(size - k)
            b = [e.id for e in await impl.page_keyset(before)]
            want = [event_id(size - 1 - k - j) for j in range(PAGE)]
            if a != want or b != want:
                raise SystemExit(f"{impl.label}: page at {k}: {a[:2]} / {b[:2]}")


async def measure_size(
    impls: Sequence[ScaleImpl],
    db: Db,
    size: int,
    args: argparse.Namespace,
    log: Log,
) -> dict[str, dict[str, list[float]]]:
    """Microseconds per call, per operation and implementation, all trials."""
    rng = random.Random(size)
    offsets = offsets_for(size, args.offset_list)
    appends = [
        make_event(j, eid=f"{NEW_PREFIX}{j:07d}") for j in range(args.max_appends)
    ]
    out: dict[str, dict[str, list[float]]] = {}
    for impl in impls:  # warm-up: statements prepared, caches and threads up
        for i in range(20):
            await impl.get(task_id(i))
            await impl.upsert(updated(make_task(i, PROJECTS), 0))
            await impl.append(appends[i])
        for k in offsets:
            await impl.page_offset(k)
            await impl.page_keyset(None if k == 0 else event_id(size - k))
        await impl.count(project_name(0))
        db.purge_log(NEW_PREFIX)
    for trial in range(args.trials):
        ids = [task_id(rng.randrange(size)) for _ in range(500)]
        ups = [
            updated(make_task(rng.randrange(size), PROJECTS), trial + 1)
            for _ in range(200)
        ]
        projects = [project_name(rng.randrange(PROJECTS)) for _ in range(50)]
        shift = trial % len(impls)
        rotated = list(impls[shift:]) + list(impls[:shift])
        plan: list[tuple[str, Callable[[ScaleImpl], tuple[Any, Sequence[Any]]], int]]
        plan = [
            ("get", lambda i, a=ids: (i.get, a), 20),
            ("upsert", lambda i, a=ups: (i.upsert, a), 10),
            ("count", lambda i, a=projects: (i.count, a), 3),
            ("append", lambda i: (i.append, appends), 10),
        ]
        for k in offsets:
            before = None if k == 0 else event_id(size - k)
            plan.append(
                (f"offset {k}", lambda i, k=k: (lambda _: i.page_offset(k), [k]), 3)
            )
            plan.append(
                (
                    f"keyset {k}",
                    lambda i, b=before: (lambda _: i.page_keyset(b), [b]),
                    3,
                )
            )
        for op, pick, min_n in plan:
            for impl in rotated:
                fn, op_args = pick(impl)
                max_n = len(appends) if op == "append" else 1_000_000
                us = await timed(fn, op_args, args.budget, min_n, max_n)
                out.setdefault(op, {}).setdefault(impl.name, []).append(us)
                if op == "append":
                    db.purge_log(NEW_PREFIX)
        log(f"  size {size:,}: trial {trial + 1}/{args.trials} done")
    return out


async def measure_concurrency(
    impls: Sequence[ScaleImpl], size: int, args: argparse.Namespace, log: Log
) -> dict[str, dict[str, dict[str, list[float]]]]:
    """ops/s of gets and upserts with c coroutines sharing one implementation."""
    rng = random.Random(7)
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for trial in range(args.trials):
        ids = [task_id(rng.randrange(size)) for _ in range(args.conc_gets)]
        ups = [
            updated(make_task(rng.randrange(size), PROJECTS), 50 + trial)
            for _ in range(args.conc_upserts)
        ]
        for c in args.concurrency_list:
            shift = trial % len(impls)
            for impl in list(impls[shift:]) + list(impls[:shift]):
                for op, fn, items in (
                    ("get", impl.get, ids),
                    ("upsert", impl.upsert, ups),
                ):
                    queue = iter(items)

                    async def worker(
                        fn: Callable[[Any], Awaitable[Any]] = fn,
                        queue: Iterator[Any] = queue,
                    ) -> None:
                        for item in queue:
                            await fn(item)

                    gc.collect()
                    start = time.perf_counter()
                    await asyncio.gather(*(worker() for _ in range(c)))
                    rate = len(items) / (time.perf_counter() - start)
                    out.setdefault(op, {}).setdefault(impl.name, {}).setdefault(
                        str(c), []
                    ).append(rate)
        log(f"  concurrency: trial {trial + 1}/{args.trials} done")
    return out


# --------------------------------------------------------- child processes


async def _child(job: dict[str, Any]) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.scale_child",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=str(ROOT),
    )
    assert proc.stdin is not None
    proc.stdin.write((json.dumps(job) + "\n").encode())
    await proc.stdin.drain()
    return proc


async def _line(proc: asyncio.subprocess.Process, wait: float) -> str:
    assert proc.stdout is not None
    raw = await asyncio.wait_for(proc.stdout.readline(), wait)
    if not raw:
        raise RuntimeError(f"child {proc.pid} exited ({await proc.wait()})")
    return raw.decode().strip()


async def measure_memory(
    targets: dict[str, Target], size: int, log: Log
) -> dict[str, dict[str, float]]:
    """Peak RSS growth of reading the whole containers table, in a child each."""
    backend = next(iter(targets.values())).backend
    floor = FLOOR[backend]
    out: dict[str, dict[str, float]] = {}
    for label, impl, how in (
        ("generated load_all", "generated", "load_all"),
        ("generated iter_load_all", "generated", "stream"),
        (f"{floor} fetch all", floor, "load_all"),
        (f"{floor} streamed", floor, "stream"),
    ):
        job = {"task": "mem", "target": targets[impl].to_json(), "rows": size}
        job["how"] = how
        proc = await _child(job)
        result = json.loads(await _line(proc, 1800))
        await proc.wait()
        if result["rows"] != size:
            raise SystemExit(f"{label}: read {result['rows']} rows, not {size}")
        out[label] = {
            "peak_mib": (result["peak_bytes"] - result["rss_before"]) / 2**20,
            "seconds": result["seconds"],
        }
        log(f"  memory {label}: +{out[label]['peak_mib']:.1f} MiB")
    return out


async def measure_processes(
    targets: dict[str, Target], db: Db, size: int, args: argparse.Namespace, log: Log
) -> dict[str, Any]:
    """N writer processes on one database: throughput and promises per round."""
    backend = next(iter(targets.values())).backend
    out: dict[str, Any] = {}
    for impl in ("generated", FLOOR[backend]):
        for p in args.processes_list:
            jobs = [
                {
                    "task": "worker",
                    "target": targets[impl].to_json(),
                    "proc": i,
                    "rounds": args.trials,
                    "rows": size,
                    "appends": args.mp_appends,
                    "upserts": args.mp_upserts,
                    "gets": args.mp_gets,
                    "coroutines": 8,
                }
                for i in range(p)
            ]
            procs = [await _child(j) for j in jobs]
            try:
                for proc in procs:
                    if await _line(proc, 300) != "ready":
                        raise RuntimeError("child not ready")
                for rnd in range(args.trials):
                    for proc in procs:
                        assert proc.stdin is not None
                        proc.stdin.write(b"go\n")
                        await proc.stdin.drain()
                    results = [json.loads(await _line(pr, 900)) for pr in procs]
                    cell = _check_round(db, results, rnd, size)
                    out.setdefault(impl, {}).setdefault(str(p), []).append(cell)
                    db.purge_log(mp_prefix(rnd))
                    log(
                        f"  processes {impl} x{p} round {rnd + 1}: "
                        f"{cell['ops_per_s']:,.0f} ops/s, lost {cell['lost']}, "
                        f"errors {cell['errors']}"
                    )
            finally:
                for proc in procs:
                    if proc.stdin is not None:
                        proc.stdin.close()
                for proc in procs:
                    await proc.wait()
    return out


def _check_round(
    db: Db, results: list[dict[str, Any]], rnd: int, size: int
) -> dict[str, Any]:
    """Throughput of one round and whether the promises held."""
    prefix = mp_prefix(rnd)
    acked = [i for r in results for i in r["acked"]]
    stored = {
        row[0]
        for row in db.q(
            'SELECT "id" FROM "provider_audit_events" WHERE "id" >= ? AND "id" < ?',
            (prefix, prefix[:-1] + "."),
        )
    }
    lost = len(set(acked) - stored)
    written: dict[str, set[str]] = {}
    for r in results:
        for tid, titles in r["titles"].items():
            written.setdefault(tid, set()).update(titles)
    hot = [task_id(h) for h in range(HOT)]
    marks = ", ".join("?" for _ in hot)
    rows = db.q(f'SELECT "id", "title" FROM "tasks" WHERE "id" IN ({marks})', hot)
    torn = sum(1 for tid, title in rows if tid in written and title not in written[tid])
    total = db.q('SELECT COUNT(*) FROM "tasks"')[0][0]
    errors = [e for r in results for e in r["errors"]]
    ops = sum(r["ops"] for r in results)
    window = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {
        "ops_per_s": ops / window,
        "ops": ops,
        "acked_appends": len(acked),
        "stored_appends": len(stored),
        "lost": lost,
        "hot_rows_not_a_written_value": torn,
        "tasks_rows": total,
        "tasks_rows_expected": size,
        "errors": len(errors),
        "error_samples": errors[:3],
    }


# ------------------------------------------------------------- backends


class Backend:
    """One backend's database, implementations and results, kept open."""

    def __init__(self, name: str, args: argparse.Namespace, stack: ExitStack) -> None:
        self.name = name
        self.args = args
        if name == "sqlite":
            tmp = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="synthorg-scale-")
            )
            path = str(Path(tmp) / "scale.db")
            self.info = f"{sqlite3.sqlite_version}, one file, WAL, synchronous=NORMAL"
            self.targets = {i: Target(name, i, path=path) for i in IMPLS[name]}
            self.raw = path
        else:
            import psycopg

            from synthorg.persistence.testing.pgserver import running_server

            s = stack.enter_context(running_server(fsync=True))
            s.create_database("scale")
            with psycopg.connect(s.dsn()) as conn:
                row = conn.execute("SHOW server_version").fetchone()
            self.info = (
                f"{row[0] if row else '?'}, throwaway server on loopback TCP, "
                "fsync=on, synchronous_commit=on"
            )
            self.targets = {
                i: Target(
                    name,
                    i,
                    host=s.host,
                    port=s.port,
                    user=s.user,
                    password=s.password,
                    database="scale",
                )
                for i in IMPLS[name]
            }
            self.raw = s.dsn("scale")
        self.impls = [build(self.targets[i]) for i in IMPLS[name]]
        self.have = 0
        self.db: Db | None = None

    async def open(self) -> None:
        """Connect every implementation; the first TEMPLATES rows."""
        for impl in self.impls:
            await impl.open()
        self.db = Db(self.name, self.raw)
        gen = self.impls[0]
        assert isinstance(gen, Generated)
        await write_templates(gen.backend)
        self.have = TEMPLATES

    async def close(self) -> None:
        """Disconnect everything."""
        if self.db is not None:
            self.db.close()
        for impl in self.impls:
            with suppress(Exception):
                await impl.close()

    async def at_size(
        self, size: int, out: dict[str, Any], save: Callable[[], None], log: Log
    ) -> None:
        """Grow to ``size`` rows, then every measurement of that size."""
        args, db = self.args, self.db
        assert db is not None
        started = time.perf_counter()
        grow = grow_sqlite if self.name == "sqlite" else grow_postgres
        await asyncio.to_thread(grow, self.raw, self.have, size)
        self.have = size
        log(f"{self.name}: {size:,} rows in {time.perf_counter() - started:.1f}s")
        await check(self.impls, size, args.offset_list)
        cell: dict[str, Any] = {}
        out.setdefault("sizes", {})[str(size)] = cell
        cell["ops"] = await measure_size(self.impls, db, size, args, log)
        save()
        if not args.no_memory:
            cell["memory"] = await measure_memory(self.targets, size, log)
            save()
        if size != args.concurrency_rows:
            return
        out["concurrency"] = {
            "rows": size,
            **await measure_concurrency(self.impls, size, args, log),
        }
        save()
        if args.processes_list:
            out["processes"] = {
                "rows": size,
                **await measure_processes(self.targets, db, size, args, log),
            }
            save()


async def run(
    args: argparse.Namespace,
    results: dict[str, Any],
    save: Callable[[], None],
    log: Log,
) -> None:
    """Both backends open at once; sizes outermost, so a run cut short keeps
    every backend's smaller sizes."""
    with ExitStack() as stack:
        backends = [Backend(n, args, stack) for n in args.backends.split(",")]
        try:
            for b in backends:
                results["meta"][b.name] = b.info
                await b.open()
            for size in args.size_list:
                for b in backends:
                    out = results["backends"].setdefault(b.name, {})
                    await b.at_size(size, out, save, log)
        finally:
            for b in backends:
                await b.close()


# ------------------------------------------------------------------ main


def _ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command line; --quick changes the defaults, explicit flags win."""
    p = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description="How cost grows: table size, concurrency, processes, memory "
        "(generated repositories beside the raw-driver floors, both backends).",
    )
    p.add_argument("--quick", action="store_true", help="10k rows, concurrency 1,8")
    p.add_argument("--sizes", help="table sizes (default 10000,100000,1000000)")
    p.add_argument("--concurrency", help="coroutines (default 1,8,64,256)")
    p.add_argument("--processes", help="OS processes (default 1,2,4; '' to skip)")
    p.add_argument(
        "--offsets", help="page offsets (default 0,1000,10000,100000,500000)"
    )
    p.add_argument(
        "--concurrency-rows",
        type=int,
        help="size for the concurrency and process runs (default: the largest <= 100k)",
    )
    p.add_argument("--trials", type=int, help="trials per cell (median; default 3)")
    p.add_argument("--budget", type=float, help="seconds per timed cell (default 0.3)")
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--no-memory", action="store_true", help="skip peak memory")
    p.add_argument(
        "--out", type=Path, default=ROOT / ".bench-scale", help="output directory"
    )
    p.add_argument(
        "--doc",
        action="store_true",
        help="also update docs/benchmarks.md and docs/img/",
    )
    args = p.parse_args(argv)
    q = args.quick
    args.size_list = _ints(args.sizes or ("10000" if q else "10000,100000,1000000"))
    args.concurrency_list = _ints(args.concurrency or ("1,8" if q else "1,8,64,256"))
    procs = args.processes if args.processes is not None else ("1,2" if q else "1,2,4")
    args.processes_list = _ints(procs)
    args.offset_list = _ints(args.offsets or "0,1000,10000,100000,500000")
    args.trials = args.trials or 3
    args.budget = args.budget or (0.1 if q else 0.3)
    if min(args.size_list) < TEMPLATES:
        p.error(f"sizes must be >= {TEMPLATES}")
    if args.concurrency_rows is None:
        small = [s for s in args.size_list if s <= 100_000]
        args.concurrency_rows = max(small) if small else min(args.size_list)
    args.max_appends = 400 if q else 3000
    args.conc_gets, args.conc_upserts = (400, 150) if q else (1500, 400)
    args.mp_appends, args.mp_upserts, args.mp_gets = (
        (60, 30, 150) if q else (200, 100, 500)
    )
    return args


async def _amain(args: argparse.Namespace) -> int:
    from bench.plots import render_all, summarize
    from bench.run import machine_info

    started = time.perf_counter()

    def log(msg: str) -> None:
        print(
            f"[{time.perf_counter() - started:6.1f}s] {msg}",
            file=sys.stderr,
            flush=True,
        )

    args.out.mkdir(parents=True, exist_ok=True)
    out_json = args.out / "scale.json"
    results: dict[str, Any] = {
        "meta": {
            **machine_info(),
            "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "command": " ".join(["python -m bench.scale", *sys.argv[1:]]),
            "sizes": args.size_list,
            "trials": args.trials,
            "budget_s": args.budget,
            "page": PAGE,
            "pool": 10,
        },
        "backends": {},
    }

    def save() -> None:
        out_json.write_text(json.dumps(results, indent=1))

    await run(args, results, save, log)
    results["meta"]["load average at end"] = " ".join(
        f"{x:.2f}" for x in os.getloadavg()
    )
    results["meta"]["seconds"] = round(time.perf_counter() - started)
    results["summary"] = summarize(results)
    save()
    written = render_all(results, args.out, doc=args.doc)
    for path in written:
        log(f"wrote {path}")
    log(f"wrote {out_json}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run."""
    return asyncio.run(_amain(parse(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
