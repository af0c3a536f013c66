"""Where the generated code spends its time, next to the tuned raw driver.

``python -m bench.profile [--backend sqlite|postgres] [--workload get]``
runs an A/B of the generated repository and the tuned hand-written code
(interleaved rounds, median µs per operation), then one cProfile of each
and prints the functions with the most own time. Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import pg_impls, sqlite_impls
from bench.common import QUICK, Impl, Mode, make_task, project_name, task_id, updated


def _op(impl: Impl, workload: str, mode: Mode) -> Callable[[int], Awaitable[object]]:
    if workload == "get":
        return lambda i: impl.get(task_id(i * 7919 % mode.rows))
    if workload == "upsert":
        tasks = [updated(make_task(i, mode.projects), 1) for i in range(200)]
        return lambda i: impl.upsert(tasks[i % 200])
    if workload == "page":
        return lambda i: impl.page(project_name(i % mode.projects), 50)
    if workload == "count":
        return lambda i: impl.count(project_name(i % mode.projects))
    raise SystemExit(f"unknown workload {workload!r}")


async def _ab(impls: list[Impl], workload: str, mode: Mode, n: int) -> None:
    ops = {impl.name: _op(impl, workload, mode) for impl in impls}
    samples: dict[str, list[float]] = {impl.name: [] for impl in impls}
    for _ in range(3):  # warm-up
        for impl in impls:
            for i in range(50):
                await ops[impl.name](i)
    for r in range(9):
        for impl in impls[r % len(impls) :] + impls[: r % len(impls)]:
            fn = ops[impl.name]
            start = time.perf_counter()
            for i in range(n):
                await fn(i)
            samples[impl.name].append((time.perf_counter() - start) / n * 1e6)
    for name, values in samples.items():
        print(
            f"{workload:6} {name:16} median {statistics.median(values):8.1f} µs/op"
            f"  (min {min(values):.1f}, max {max(values):.1f})"
        )


async def _profile(impl: Impl, workload: str, mode: Mode, n: int, top: int) -> None:
    fn = _op(impl, workload, mode)
    prof = cProfile.Profile()
    prof.enable()
    for i in range(n):
        await fn(i)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    print(f"===== cProfile {impl.name} {workload} ({n} ops), by own time")
    print("\n".join(out.getvalue().splitlines()[: top + 12]))


@contextmanager
def _sqlite(mode: Mode) -> Iterator[list[Impl]]:
    with tempfile.TemporaryDirectory(prefix="synthorg-prof-") as tmp:
        workdir = Path(tmp)
        master = workdir / "master.db"
        asyncio.run(sqlite_impls.prepare_master(master, mode))
        built = dict(
            (type(i).__name__, i) for i, _ in sqlite_impls.build(workdir, master)
        )
        yield [built["GeneratedSqlite"], built["TunedAiosqlite"], built["SyncSqlite3"]]


async def _run(impls: list[Impl], args: argparse.Namespace, mode: Mode) -> None:
    for impl in impls:
        await impl.open()
    try:
        await _ab(impls, args.workload, mode, args.ops)
        if args.cprofile:
            for impl in impls:
                await _profile(impl, args.workload, mode, args.ops * 2, args.top)
    finally:
        for impl in impls:
            await impl.close()


def main() -> int:
    """Parse the command line and run the A/B (and cProfile)."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workload", default="get")
    parser.add_argument("--ops", type=int, default=500)
    parser.add_argument("--top", type=int, default=18)
    parser.add_argument("--cprofile", action="store_true")
    args = parser.parse_args()
    mode = QUICK
    if args.backend == "sqlite":
        with _sqlite(mode) as sqlite_set:
            asyncio.run(_run(sqlite_set, args, mode))
        return 0
    from synthorg.persistence.testing.pgserver import running_server

    with running_server(fsync=True) as server:
        asyncio.run(pg_impls.prepare_source(server, mode))
        built = {type(i).__name__: i for i, _ in pg_impls.build(server)}
        pg_set: list[Impl] = [
            built["GeneratedPg"],
            built["TunedPsycopg"],
            built["Asyncpg"],
        ]
        asyncio.run(_run(pg_set, args, mode))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
