"""What per-call observability costs: off, DEBUG logs, OpenTelemetry spans.

``python -m bench.observability [--rows 2000] [--n 2000] [--rounds 9]``
runs point ``get`` and ``save`` (upsert) of a task on one SQLite file
through ``backend.tasks`` in each mode, interleaved round by round in one
process (the order rotates each round), and prints the median over the
rounds of the wall-clock µs per call and of the process CPU µs per call
(all threads; on a busy shared machine the CPU time is the steadier figure
for a per-call overhead):

- ``off``: instrumentation off, the generated repository itself;
- ``proxy``: the proxy with nothing to record (the calls logger enabled at
  connect and then raised above DEBUG): the cost of the wrapper alone;
- ``debug-log``: one DEBUG record per call, formatted by a handler that
  discards the text (what a log pipeline pays before I/O);
- ``otel-noop``: tracing on with the API's no-op provider (the ``otel``
  extra without an SDK): non-recording spans;
- ``otel-sdk``: one span per call with the OpenTelemetry SDK, a
  ``SimpleSpanProcessor`` and an exporter that drops the spans.

Figures are in docs/observability.md. Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from bench.common import make_task, task_id, updated
from synthorg.persistence import PersistenceConfig, SQLiteConfig, create_backend
from synthorg.persistence.observability import CALLS_LOGGER

MODES = ("off", "proxy", "debug-log", "otel-noop", "otel-sdk")


class _Discard(logging.Handler):
    """Formats every record (as a real handler would) and drops it."""

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


def _provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    return provider


async def run(
    rows: int, n: int, rounds: int
) -> dict[str, dict[str, tuple[float, float]]]:
    """(wall, CPU) median µs per call for each workload and mode."""
    logger = logging.getLogger(CALLS_LOGGER)
    logger.propagate = False
    logger.addHandler(_Discard())
    provider = _provider()
    from opentelemetry.trace import NoOpTracerProvider

    noop = NoOpTracerProvider()
    with tempfile.TemporaryDirectory(prefix="bench-otel-") as tmp:
        path = Path(tmp) / "bench.db"
        backend = create_backend(PersistenceConfig(sqlite=SQLiteConfig(path=str(path))))
        await backend.connect()
        await backend.migrate()
        tasks = [make_task(i, 20) for i in range(rows)]
        await backend.tasks.save_many(tasks)
        changed = [updated(t, 1) for t in tasks[:200]]

        def setup(mode: str) -> None:
            if mode == "off":
                logger.setLevel(logging.WARNING)
                backend.instrument(logs=False)
            elif mode == "proxy":
                logger.setLevel(logging.WARNING)
                backend.instrument(logs=True)
            elif mode == "debug-log":
                logger.setLevel(logging.DEBUG)
                backend.instrument(logs=True)
            elif mode == "otel-noop":
                logger.setLevel(logging.WARNING)
                backend.instrument(logs=False, tracing=True, tracer_provider=noop)
            else:
                logger.setLevel(logging.WARNING)
                backend.instrument(logs=False, tracing=True, tracer_provider=provider)

        workloads: dict[str, Callable[[int], Awaitable[object]]] = {
            "get": lambda i: backend.tasks.get(task_id(i * 7919 % rows)),
            "save": lambda i: backend.tasks.save(changed[i % len(changed)]),
        }
        results: dict[str, dict[str, tuple[float, float]]] = {}
        try:
            for workload, base in workloads.items():
                samples: dict[str, list[float]] = {m: [] for m in MODES}
                cpu: dict[str, list[float]] = {m: [] for m in MODES}
                for r in range(rounds + 1):
                    order = MODES[r % len(MODES) :] + MODES[: r % len(MODES)]
                    for mode in order:
                        setup(mode)
                        # Resolve the accessor per call, as callers do.
                        start = time.perf_counter()
                        start_cpu = time.process_time()
                        for i in range(n):
                            await base(i)
                        used = (time.process_time() - start_cpu) / n * 1e6
                        elapsed = (time.perf_counter() - start) / n * 1e6
                        if r:  # round 0 warms up
                            samples[mode].append(elapsed)
                            cpu[mode].append(used)
                results[workload] = {
                    m: (statistics.median(v), statistics.median(cpu[m]))
                    for m, v in samples.items()
                }
        finally:
            await backend.disconnect()
            provider.shutdown()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.observability")
    parser.add_argument("--rows", type=int, default=2000, help="rows in the table")
    parser.add_argument("--n", type=int, default=2000, help="calls per sample")
    parser.add_argument("--rounds", type=int, default=9, help="samples per mode")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.rows, args.n, args.rounds))
    print(f"SQLite file, {args.rows} rows, {args.n} calls x {args.rounds} rounds")
    print("µs per call, median wall (median CPU); the change is CPU against off")
    print(f"{'workload':8} " + " ".join(f"{m:>24}" for m in MODES))
    for workload, figures in results.items():
        off = figures["off"][1]
        cells = [
            f"{figures[m][0]:7.1f} ({figures[m][1]:6.1f})"
            + (f" {figures[m][1] / off - 1:+5.0%}" if m != "off" else "      ")
            for m in MODES
        ]
        print(f"{workload:8} " + " ".join(f"{c:>24}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
