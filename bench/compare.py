"""Before and after in one interleaved run: this tree's code against a base rev.

``python -m bench`` interleaves implementations inside one process, so its
``x floor`` ratios are robust to background noise; but the code under test
can only be one version per process (one ``synthorg.persistence`` package).
This runs the same harness (this tree's ``bench/``) alternately against the
base revision's library code and this tree's, round after round, so both
see the same machine weather, and reports per workload the median over
rounds of each process's ratio ``generated / floor``:

    python -m bench.compare --base 1237642 --rounds 3 --quick

The base revision is exported with ``git archive`` into a temporary
directory and put first on ``PYTHONPATH`` (its ``src/``; ``generated`` is
reached through ``src/synthorg/persistence/generated``). The harness only
uses the public API both versions share. Output: a markdown table, and with
``--json`` every per-round ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GENERATED = "generated"


def export(rev: str, into: Path) -> Path:
    """The library sources of ``rev`` (``src/`` and ``generated/``) under ``into``."""
    archive = into / "base.tar"
    with archive.open("wb") as out:
        subprocess.run(
            ["git", "archive", "--format=tar", rev, "src", "generated"],
            cwd=ROOT,
            stdout=out,
            check=True,
        )
    tree = into / "base"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="tar")
    archive.unlink()
    return tree / "src"


def run_once(src: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One ``python -m bench`` process with ``src`` first on the path."""
    cmd = [sys.executable, "-m", "bench", "--no-write", "--json", str(out)]
    cmd += ["--backends", args.backends, "--reps", str(args.reps)]
    if args.quick:
        cmd.append("--quick")
    env = {**os.environ, "PYTHONPATH": str(src)}
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def ratios(data: dict[str, Any]) -> dict[tuple[str, str], float]:
    """(backend, workload) -> median(generated) / median(floor) of one process."""
    found: dict[tuple[str, str], float] = {}
    for backend, result in data.items():
        cells = {(s["workload"], s["label"]): s["values"] for s in result["samples"]}
        for workload, label in cells:
            if not label.startswith(GENERATED):
                continue
            floor = result["bulk_floor"] if workload == "bulk" else result["floor"]
            base = cells.get((workload, floor))
            if not base:
                continue
            gen = statistics.median(cells[(workload, label)])
            found[(backend, workload)] = gen / statistics.median(base)
    return found


def table(before: list[dict[tuple[str, str], float]], after: list[Any]) -> str:
    """Markdown: per backend and workload, median x floor before and after."""
    keys = sorted({k for r in before + after for k in r})
    lines = [
        "| backend | workload | before x floor | after x floor | after / before |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for key in keys:
        b = [r[key] for r in before if key in r]
        a = [r[key] for r in after if key in r]
        mb = statistics.median(b) if b else None
        ma = statistics.median(a) if a else None
        change = f"{ma / mb:.2f}" if mb and ma else "-"
        lines.append(
            f"| {key[0]} | {key[1]} | {_fmt(mb, b)} | {_fmt(ma, a)} | {change} |"
        )
    return "\n".join(lines)


def _fmt(median: float | None, values: list[float]) -> str:
    if median is None:
        return "n/a"
    return f"{median:.2f}x ({min(values):.2f}-{max(values):.2f})"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, alternate the two versions, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.compare")
    parser.add_argument("--base", required=True, help="git revision to compare to")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=1, help="repetitions/process")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    here = ROOT / "src"
    before: list[dict[tuple[str, str], float]] = []
    after: list[dict[tuple[str, str], float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        base_src = export(args.base, Path(tmp))
        out = Path(tmp) / "run.json"
        for n in range(args.rounds):
            # Alternate which version goes first, so neither always runs
            # on the warmer (or busier) half of a round.
            order = [(base_src, before), (here, after)]
            if n % 2:
                order.reverse()
            for src, into in order:
                which = "base" if src == base_src else "this tree"
                print(f"round {n + 1}/{args.rounds}: {which}", file=sys.stderr)
                into.append(ratios(run_once(src, out, args)))
    print(f"Base {args.base} against this tree; {args.rounds} rounds, alternating.")
    print(table(before, after))
    if args.json is not None:
        dump = {
            "base": args.base,
            "before": [{f"{k[0]}/{k[1]}": v for k, v in r.items()} for r in before],
            "after": [{f"{k[0]}/{k[1]}": v for k, v in r.items()} for r in after],
        }
        args.json.write_text(json.dumps(dump, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
