"""Run the benchmark: both backends, every implementation, interleaved.

Per backend: build one filled database, give each implementation its own
copy, open them all, check they return the same data, warm them up, then
for each repetition run every workload on every implementation (the order
of implementations rotates per repetition) and record ops/s. Rows added by
the append workloads are deleted (untimed) so the table keeps its size.

Results are printed as markdown and, in full mode, written between the
result markers of ``docs/benchmarks.md`` (the text around them is kept).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import pg_impls, sqlite_impls
from bench.common import (
    FULL,
    QUICK,
    WORKLOAD_TITLES,
    WORKLOADS,
    BulkFn,
    Impl,
    Mode,
    make_task,
    project_name,
    task_id,
    updated,
)
from synthorg.persistence.generated.tasks import Task

APPEND_PROJECT = "proj-append"
BULK_PROJECT = "proj-bulk"
START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

Purge = Callable[[str], None]


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class Shared:
    """Inputs used by every repetition: the new rows of the write workloads."""

    appends: list[Task]
    bulk: list[Task]


@dataclass(frozen=True)
class Inputs:
    """One repetition's inputs, identical for every implementation."""

    get_ids: list[str]
    upserts: list[Task]
    page_projects: list[str]
    count_projects: list[str]
    mix: list[list[tuple[str, Any]]]


def shared_inputs(mode: Mode) -> Shared:
    """New rows for the append and bulk workloads (own projects, new ids)."""
    return Shared(
        appends=[
            make_task(j, mode.projects, tid=f"app-{j:07d}", project=APPEND_PROJECT)
            for j in range(mode.n_append)
        ],
        bulk=[
            make_task(j, mode.projects, tid=f"bulk-{j:07d}", project=BULK_PROJECT)
            for j in range(mode.n_bulk)
        ],
    )


def rep_inputs(mode: Mode, rep: int) -> Inputs:
    """Random ids/projects for repetition ``rep`` (seeded: same for everyone)."""
    rng = random.Random(1000 + rep)

    def any_id() -> int:
        return rng.randrange(mode.rows)

    def any_project() -> str:
        return project_name(rng.randrange(mode.projects))

    mix: list[list[tuple[str, Any]]] = []
    for _ in range(mode.mix_tasks):
        ops: list[tuple[str, Any]] = []
        for _ in range(mode.mix_ops_per_task):
            x = rng.random()
            if x < 0.7:
                ops.append(("get", task_id(any_id())))
            elif x < 0.9:
                i = any_id()
                ops.append(("upsert", updated(make_task(i, mode.projects), 100 + rep)))
            else:
                ops.append(("page", any_project()))
        mix.append(ops)
    return Inputs(
        get_ids=[task_id(any_id()) for _ in range(mode.n_get)],
        upserts=[
            updated(make_task(any_id(), mode.projects), rep + 1)
            for _ in range(mode.n_upsert)
        ],
        page_projects=[any_project() for _ in range(mode.n_page)],
        count_projects=[any_project() for _ in range(mode.n_count)],
        mix=mix,
    )


# --------------------------------------------------------------- workloads


async def _timed(n: int, body: Callable[[], Awaitable[None]]) -> float:
    """ops/s of ``body`` doing ``n`` operations (GC collected first)."""
    gc.collect()
    start = time.perf_counter()
    await body()
    return n / (time.perf_counter() - start)


async def _timed_bulk(fn: BulkFn, rows: Sequence[Task]) -> float:
    """rows/s of one bulk call."""
    gc.collect()
    start = time.perf_counter()
    await fn(rows)
    return len(rows) / (time.perf_counter() - start)


async def _mix_worker(impl: Impl, ops: list[tuple[str, Any]], limit: int) -> None:
    for op, arg in ops:
        if op == "get":
            await impl.get(arg)
        elif op == "upsert":
            await impl.upsert(arg)
        else:
            await impl.page(arg, limit)


async def _append_worker(impl: Impl, rows: Sequence[Task]) -> None:
    for t in rows:
        await impl.upsert(t)


async def run_workload(
    impl: Impl, workload: str, inp: Inputs, shared: Shared, mode: Mode
) -> float:
    """ops/s of one non-bulk workload on one implementation."""
    limit = mode.page_size

    async def get() -> None:
        for tid in inp.get_ids:
            await impl.get(tid)

    async def upsert() -> None:
        for t in inp.upserts:
            await impl.upsert(t)

    async def page() -> None:
        for p in inp.page_projects:
            await impl.page(p, limit)

    async def count() -> None:
        for p in inp.count_projects:
            await impl.count(p)

    async def append() -> None:
        for t in shared.appends:
            await impl.upsert(t)

    async def append32() -> None:
        # The append rows dealt round-robin to mode.mix_tasks (32) tasks.
        rows, k = shared.appends, mode.mix_tasks
        await asyncio.gather(*(_append_worker(impl, rows[i::k]) for i in range(k)))

    async def mix() -> None:
        await asyncio.gather(*(_mix_worker(impl, ops, limit) for ops in inp.mix))

    bodies: dict[str, tuple[int, Callable[[], Awaitable[None]]]] = {
        "get": (len(inp.get_ids), get),
        "upsert": (len(inp.upserts), upsert),
        "page": (len(inp.page_projects), page),
        "count": (len(inp.count_projects), count),
        "append": (len(shared.appends), append),
        "append32": (len(shared.appends), append32),
        "mix": (sum(len(ops) for ops in inp.mix), mix),
    }
    n, body = bodies[workload]
    return await _timed(n, body)


# ------------------------------------------------------------------ results


@dataclass
class BackendResult:
    """Per-label samples (ops/s) of one backend, in presentation order."""

    backend: str
    floor: str
    bulk_floor: str
    kinds: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    bulk_order: list[str] = field(default_factory=list)
    samples: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    na: set[str] = field(default_factory=set)

    def add(self, workload: str, label: str, value: float) -> None:
        """Record one repetition's ops/s."""
        self.samples.setdefault((workload, label), []).append(value)


async def _check_same_data(impls: Sequence[Impl], mode: Mode) -> None:
    """Every implementation returns the expected rows before anything is timed."""
    expected = make_task(1, mode.projects)
    p0 = project_name(0)
    expected_page = [task_id(i) for i in range(0, mode.rows, mode.projects)][:50]
    expected_count = len(range(0, mode.rows, mode.projects))
    for impl in impls:
        got = await impl.get(task_id(1))
        if got != expected:
            raise SystemExit(f"{impl.name}: get returned {got!r}, not {expected!r}")
        page = [t.id for t in await impl.page(p0, 50)]
        if page != expected_page:
            raise SystemExit(f"{impl.name}: page returned other ids: {page[:3]}…")
        n = await impl.count(p0)
        if n != expected_count:
            raise SystemExit(f"{impl.name}: count {n} != {expected_count}")
        if await impl.get("no-such-id") is not None:
            raise SystemExit(f"{impl.name}: get of a missing id returned a row")


async def _warm_up(impl: Impl, purge: Purge, shared: Shared, mode: Mode) -> None:
    """Prepare statements, fill caches, start threads: nothing here is timed."""
    for i in range(100):
        await impl.get(task_id((i * 7919) % mode.rows))
    for i in range(20):
        await impl.upsert(updated(make_task(i, mode.projects), 0))
    for i in range(5):
        await impl.page(project_name(i % mode.projects), mode.page_size)
        await impl.count(project_name(i % mode.projects))
    for t in shared.appends[:20]:
        await impl.upsert(t)
    purge(APPEND_PROJECT)
    for fn in impl.bulk_variants().values():
        await fn(shared.bulk[:100])
        purge(BULK_PROJECT)
    warm_mix = rep_inputs(mode, -1).mix
    await asyncio.gather(
        *(_mix_worker(impl, ops[:4], mode.page_size) for ops in warm_mix)
    )


async def run_backend(
    result: BackendResult,
    entries: Sequence[tuple[Impl, Purge]],
    mode: Mode,
    shared: Shared,
    log: Callable[[str], None],
) -> None:
    """Open, check, warm up, then run every repetition interleaved."""
    impls = [impl for impl, _ in entries]
    purges = {id(impl): p for impl, p in entries}
    for impl in impls:
        await impl.open()
    try:
        await _check_same_data(impls, mode)
        for impl in impls:
            result.kinds[impl.name] = impl.kind
            result.order.append(impl.name)
            variants = impl.bulk_variants()
            if not variants:
                result.na.add(impl.name)
                result.bulk_order.append(impl.name)
            for v in variants:
                label = f"{impl.name} · {v}"
                result.kinds[label] = impl.kind
                result.bulk_order.append(label)
            await _warm_up(impl, purges[id(impl)], shared, mode)
        log(f"{result.backend}: checked and warmed up {len(impls)} implementations")
        for rep in range(mode.reps):
            inp = rep_inputs(mode, rep)
            shift = rep % len(impls)
            rotated = impls[shift:] + impls[:shift]
            started = time.perf_counter()
            for workload in WORKLOADS:
                for impl in rotated:
                    purge = purges[id(impl)]
                    if workload == "bulk":
                        for v, fn in impl.bulk_variants().items():
                            value = await _timed_bulk(fn, shared.bulk)
                            result.add("bulk", f"{impl.name} · {v}", value)
                            purge(BULK_PROJECT)
                        continue
                    value = await run_workload(impl, workload, inp, shared, mode)
                    result.add(workload, impl.name, value)
                    if workload in ("append", "append32"):
                        purge(APPEND_PROJECT)
            log(
                f"{result.backend}: repetition {rep + 1}/{mode.reps} "
                f"in {time.perf_counter() - started:.1f}s"
            )
    finally:
        for impl in impls:
            await impl.close()


# ---------------------------------------------------------------- backends


async def bench_sqlite(
    mode: Mode, shared: Shared, log: Callable[[str], None]
) -> BackendResult:
    """All SQLite implementations on copies of one filled file."""
    with tempfile.TemporaryDirectory(prefix="synthorg-bench-") as tmp:
        workdir = Path(tmp)
        master = workdir / "master.db"
        started = time.perf_counter()
        await sqlite_impls.prepare_master(master, mode)
        built = sqlite_impls.build(workdir, master)
        log(f"sqlite: {mode.rows} rows filled in {time.perf_counter() - started:.1f}s")
        entries: list[tuple[Impl, Purge]] = [
            (impl, functools.partial(sqlite_impls.purge, path)) for impl, path in built
        ]
        result = BackendResult(
            backend="SQLite",
            floor="sqlite3 sync",
            bulk_floor="sqlite3 sync · executemany",
        )
        await run_backend(result, entries, mode, shared, log)
        return result


async def bench_postgres(
    mode: Mode, shared: Shared, log: Callable[[str], None], info: dict[str, str]
) -> BackendResult:
    """All PostgreSQL implementations on template copies of one database."""
    from synthorg.persistence.testing.pgserver import running_server

    with running_server(fsync=True) as server:
        started = time.perf_counter()
        await pg_impls.prepare_source(server, mode)
        built = pg_impls.build(server)
        log(
            f"postgres: {mode.rows} rows filled and cloned in "
            f"{time.perf_counter() - started:.1f}s"
        )
        import psycopg

        with psycopg.connect(server.dsn()) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            fsync = conn.execute("SHOW fsync").fetchone()
            sync_commit = conn.execute("SHOW synchronous_commit").fetchone()
        version = row[0] if row else "?"
        info["PostgreSQL"] = (
            f"{version} on loopback TCP, fsync={fsync[0] if fsync else '?'}, "
            f"synchronous_commit={sync_commit[0] if sync_commit else '?'}"
        )
        purger = pg_impls.Purger(server)
        entries: list[tuple[Impl, Purge]] = [
            (impl, functools.partial(purger, database)) for impl, database in built
        ]
        result = BackendResult(
            backend="PostgreSQL",
            floor="asyncpg",
            bulk_floor="asyncpg · COPY",
        )
        try:
            await run_backend(result, entries, mode, shared, log)
        finally:
            purger.close()
        return result


# ----------------------------------------------------------------- report


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def median_of(result: BackendResult, workload: str, label: str) -> float | None:
    """Median ops/s of one cell, or None when not measured."""
    values = result.samples.get((workload, label))
    return statistics.median(values) if values else None


def render_backend(result: BackendResult, mode: Mode) -> str:
    """One markdown table: workload x implementation."""
    lines = [
        f"### {result.backend}",
        "",
        "| workload | implementation | median ops/s (min-max) "
        "| x floor | x generated |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for workload in WORKLOADS:
        bulk = workload == "bulk"
        labels = result.bulk_order if bulk else result.order
        floor_label = result.bulk_floor if bulk else result.floor
        floor = median_of(result, workload, floor_label)
        gen_label = next(
            (lb for lb in labels if result.kinds.get(lb) == "generated"), "generated"
        )
        gen = median_of(result, workload, gen_label)
        for label in labels:
            name = label
            if label == floor_label:
                name += " (floor)"
            values = result.samples.get((workload, label))
            if bulk and label in result.na:
                lines.append(
                    f"| {workload} | {name} | n/a (no bulk path yet) | - | - |"
                )
                continue
            if not values:
                continue
            med = statistics.median(values)
            cell = f"{_fmt(med)} ({_fmt(min(values))}-{_fmt(max(values))})"
            lines.append(
                f"| {workload} | {name} | {cell} | {_ratio(med, floor)} "
                f"| {_ratio(med, gen)} |"
            )
    return "\n".join(lines)


def _target_rows(results: dict[str, BackendResult]) -> list[str]:
    rows: list[str] = []

    def check(text: str, got: float | None, want: float) -> None:
        if got is None:
            rows.append(f"| {text} | n/a | not measured |")
            return
        verdict = "met" if got >= want else "**missed**"
        rows.append(f"| {text} | {got:.2f}x (target >= {want}x) | {verdict} |")

    def ratio(r: BackendResult, w: str, a: str, b: str) -> float | None:
        x, y = median_of(r, w, a), median_of(r, w, b)
        return None if x is None or y is None or y == 0 else x / y

    s = results.get("SQLite")
    if s is not None:
        for w in ("get", "upsert", "page", "count", "append", "mix"):
            check(
                f"SQLite {w}: generated / aiosqlite tuned",
                ratio(s, w, "generated", "aiosqlite tuned"),
                1.0,
            )
        for w in ("get", "upsert"):
            check(
                f"SQLite {w}: generated / SQLAlchemy ORM",
                ratio(s, w, "generated", "SQLAlchemy ORM (aiosqlite)"),
                5.0,
            )
        check(
            "SQLite bulk: generated / sqlite3 executemany",
            ratio(s, "bulk", "generated · save_many", s.bulk_floor),
            0.9,
        )
        check(
            "SQLite get (stretch): generated / sqlite3 sync",
            ratio(s, "get", "generated", s.floor),
            0.5,
        )
        # Issue 12, group commit: concurrent writers against the floor's
        # serial rate (sqlite3 sync never yields: its rows are serial).
        serial = median_of(s, "append", s.floor)
        concurrent = median_of(s, "append32", "generated")
        check(
            "SQLite append32 (issue 12): generated / sqlite3 sync serial append",
            None if serial is None or concurrent is None else concurrent / serial,
            1.5,
        )
        check(
            "SQLite mix (issue 12): generated / sqlite3 sync (serial)",
            ratio(s, "mix", "generated", s.floor),
            1.5,
        )
        check(  # issue 12, item 2: cheap reads inline
            "SQLite count (issue 12): generated / sqlite3 sync",
            ratio(s, "count", "generated", s.floor),
            0.8,
        )
    p = results.get("PostgreSQL")
    if p is not None:
        for w in ("get", "upsert", "page", "count"):
            check(
                f"PostgreSQL {w}: generated / psycopg tuned",
                ratio(p, w, "generated", "psycopg tuned"),
                0.95,
            )
            check(
                f"PostgreSQL {w}: generated / asyncpg",
                ratio(p, w, "generated", "asyncpg"),
                0.75,
            )
            for orm in ("SQLAlchemy ORM (asyncpg)", "SQLAlchemy ORM (psycopg)"):
                check(
                    f"PostgreSQL {w}: generated / {orm}",
                    ratio(p, w, "generated", orm),
                    3.0,
                )
        check(
            "PostgreSQL bulk: generated / asyncpg COPY",
            ratio(p, "bulk", "generated · save_many", p.bulk_floor),
            0.9,
        )
        check(
            "PostgreSQL mix: generated / asyncpg",
            ratio(p, "mix", "generated", "asyncpg"),
            0.8,
        )
        for w in ("count", "mix"):  # issue 12, item 3
            check(
                f"PostgreSQL {w} (issue 12): generated / asyncpg",
                ratio(p, w, "generated", "asyncpg"),
                0.85,
            )
    return rows


def machine_info() -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = "?"
    mem = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                kib = int(line.split()[1])
                mem = f"{kib / 1024 / 1024:.0f} GiB"
                break
    except OSError:
        pass
    packages = ", ".join(
        f"{name} {_version(name)}"
        for name in (
            "pydantic",
            "aiosqlite",
            "psycopg",
            "psycopg-pool",
            "asyncpg",
            "sqlalchemy",
        )
    )
    return {
        "CPU": f"{cpu}, {os.cpu_count()} logical cores",
        "Memory": mem,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "Packages": packages,
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def render(results: dict[str, BackendResult], mode: Mode, info: dict[str, str]) -> str:
    """The whole result block (markdown)."""
    parts = [
        f"Mode `{mode.name}`: {mode.rows:,} rows in {mode.projects} projects; "
        f"{mode.reps} repetitions; per repetition {mode.n_get} gets, "
        f"{mode.n_upsert} upserts, {mode.n_page} pages, {mode.n_count} counts, "
        f"{mode.n_append:,} single appends, a bulk append of {mode.n_bulk:,} rows, "
        f"and {mode.mix_tasks} tasks x {mode.mix_ops_per_task} mixed operations.",
        "",
        "Machine:",
        "",
        *(f"- {k}: {v}" for k, v in info.items()),
        "",
        "Workloads: "
        + "; ".join(f"`{w}` = {WORKLOAD_TITLES[w]}" for w in WORKLOADS)
        + ".",
        "",
    ]
    for result in results.values():
        parts += [render_backend(result, mode), ""]
    targets = _target_rows(results)
    if targets:
        parts += [
            "### Targets of issues 6 and 12 (ratios of medians)",
            "",
            "| target | measured | verdict |",
            "| --- | --- | --- |",
            *targets,
            "",
        ]
    return "\n".join(parts).rstrip() + "\n"


_TEMPLATE = f"""# Benchmarks

How fast the generated repositories are, compared with what a user would
otherwise write. Numbers are ratios on one machine, not absolute claims.

## How to run

```sh
make bench        # full: 100k-row table, 5 repetitions (several minutes)
make bench-quick  # quick: 10k rows, 3 short repetitions (under a minute)
```

`make bench` rewrites the section between the result markers below.

## Results

{START}
{END}
"""


def write_doc(path: Path, block: str) -> None:
    """Replace the result block of ``path`` (created from a template if absent)."""
    text = path.read_text() if path.exists() else _TEMPLATE
    if START not in text or END not in text:
        text = text.rstrip() + f"\n\n## Results\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{block}{END}{tail}")


def write_json(path: Path, results: dict[str, BackendResult]) -> None:
    """Every sample (ops/s) per backend, workload and label, as JSON."""
    out = {
        name: {
            "floor": r.floor,
            "bulk_floor": r.bulk_floor,
            "samples": [
                {"workload": w, "label": label, "values": values}
                for (w, label), values in r.samples.items()
            ],
        }
        for name, r in results.items()
    }
    path.write_text(json.dumps(out, indent=1) + "\n")


# -------------------------------------------------------------------- main


async def _amain(args: argparse.Namespace) -> int:
    mode = QUICK if args.quick else FULL
    if args.reps:
        mode = Mode(**{**mode.__dict__, "reps": args.reps})
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(
            f"[{time.perf_counter() - started:6.1f}s] {msg}",
            file=sys.stderr,
            flush=True,
        )

    info = machine_info()
    shared = shared_inputs(mode)
    results: dict[str, BackendResult] = {}
    failures: list[str] = []
    backends = args.backends.split(",")
    runs: list[tuple[str, Callable[[], Awaitable[BackendResult]]]] = []
    if "sqlite" in backends:
        runs.append(("SQLite", lambda: bench_sqlite(mode, shared, log)))
    if "postgres" in backends:
        runs.append(("PostgreSQL", lambda: bench_postgres(mode, shared, log, info)))
    for name, run in runs:
        try:
            results[name] = await run()
        except Exception as exc:  # report the other backend all the same
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            log(f"{name} failed: {type(exc).__name__}: {exc}")
            continue
        # Print each backend as soon as it is done: a later failure loses nothing.
        print(render_backend(results[name], mode), flush=True)
    block = render(results, mode, info)
    print(block)
    if failures:
        print("FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    if args.json is not None:
        write_json(args.json, results)
    output: Path | None = args.output
    if output is None and not args.quick and not args.reps:
        output = DOC
    if output is not None and not args.no_write:
        write_doc(output, block)
        log(f"wrote {output}")
    log("done")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the generated repositories against raw drivers "
        "and SQLAlchemy (both backends, interleaved).",
    )
    parser.add_argument(
        "--quick", action="store_true", help="10k rows, short runs (< 1 minute)"
    )
    parser.add_argument(
        "--backends", default="sqlite,postgres", help="comma list: sqlite,postgres"
    )
    parser.add_argument("--reps", type=int, default=0, help="override repetitions")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="markdown file to update (default: docs/benchmarks.md in full mode)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="also write every sample as JSON (read by python -m bench.compare)",
    )
    args = parser.parse_args(argv)
    return asyncio.run(_amain(args))
