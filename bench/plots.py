"""Tables and PNGs of ``make bench-scale`` from its ``scale.json``.

``python -m bench.plots DIR/scale.json [--out DIR] [--doc]`` redraws them
without measuring again. Every figure is a median of the trials; ratios are
``x floor`` as in the rest of ``docs/benchmarks.md``: the implementation's
rate over the floor's (above 1 is faster than the floor).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.scale_impls import FLOOR, IMPLS, LABELS

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
IMG = ROOT / "docs" / "img"
START = "<!-- bench-scale:results:start -->"
END = "<!-- bench-scale:results:end -->"
NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
COLORS = {"sqlite": "tab:blue", "postgres": "tab:orange"}
STYLES = {"generated": "-", "generated-stream": "-.", "sqlite3": "--", "asyncpg": "--"}
BASIC_OPS = ("get", "upsert", "count", "append")


def med(values: Sequence[float] | None) -> float | None:
    """Median, or None when nothing was measured."""
    return statistics.median(values) if values else None


def fmt(x: float | None) -> str:
    """A figure for a table cell."""
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def ratio(a: float | None, b: float | None) -> str:
    """``a / b`` as ``1.23x``."""
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def _sizes(b: dict[str, Any]) -> list[int]:
    return sorted(int(s) for s in b.get("sizes", {}))


def _ops(b: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    for size in _sizes(b):
        for op in b["sizes"][str(size)]["ops"]:
            if op not in seen:
                seen.append(op)
    return seen


def _rate_ratio(us: float | None, floor_us: float | None) -> float | None:
    if us is None or floor_us is None or us == 0:
        return None
    return round(floor_us / us, 3)


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Medians of the trials and ratios vs the floor (rate / floor rate)."""
    summary: dict[str, Any] = {}
    for backend, b in results["backends"].items():
        floor = FLOOR[backend]
        s: dict[str, Any] = {"floor": floor, "sizes": {}}
        for size, cell in b.get("sizes", {}).items():
            ops: dict[str, Any] = {}
            for op, by_impl in cell.get("ops", {}).items():
                f = med(by_impl.get(floor))
                ops[op] = {
                    impl: {
                        "median_us": round(med(v) or 0, 2),
                        "ops_per_s": round(1e6 / (med(v) or 1), 1),
                        "x_floor": _rate_ratio(med(v), f),
                    }
                    for impl, v in by_impl.items()
                }
            s["sizes"][size] = {"ops": ops, "memory": cell.get("memory")}
        conc = b.get("concurrency")
        if conc:
            s["concurrency"] = {"rows": conc["rows"]}
            for op in ("get", "upsert"):
                s["concurrency"][op] = {
                    impl: {
                        c: {
                            "ops_per_s": round(med(v) or 0, 1),
                            "x_floor": _rate_ratio(
                                med(conc[op].get(floor, {}).get(c)), med(v)
                            ),
                        }
                        for c, v in by_c.items()
                    }
                    for impl, by_c in conc[op].items()
                }
        procs = b.get("processes")
        if procs:
            s["processes"] = {
                impl: {
                    p: {
                        "ops_per_s": round(med([r["ops_per_s"] for r in rounds]) or 0),
                        "lost": sum(r["lost"] for r in rounds),
                        "torn": sum(r["hot_rows_not_a_written_value"] for r in rounds),
                        "errors": sum(r["errors"] for r in rounds),
                    }
                    for p, rounds in by_p.items()
                }
                for impl, by_p in procs.items()
                if impl != "rows"
            }
        summary[backend] = s
    return summary


# ------------------------------------------------------------------ tables


def size_table(backend: str, b: dict[str, Any]) -> list[str]:
    """Microseconds per call by table size: generated, floor, x floor."""
    floor = FLOOR[backend]
    sizes = _sizes(b)
    head = "| operation |" + "".join(
        f" {s:,} rows: generated µs | floor µs | x floor |" for s in sizes
    )
    lines = [
        f"**{NAMES[backend]}: µs per call by table size** "
        f"(floor: {LABELS[floor].removesuffix(' (floor)')})",
        "",
        head,
        "| --- |" + " ---: | ---: | ---: |" * len(sizes),
    ]
    for op in _ops(b):
        cells = []
        for s in sizes:
            ops = b["sizes"][str(s)]["ops"].get(op, {})
            g, f = med(ops.get("generated")), med(ops.get(floor))
            cells.append(f" {fmt(g)} | {fmt(f)} | {ratio(f, g)} |")
        lines.append(f"| {op} |" + "".join(cells))
    return lines


def concurrency_table(results: dict[str, Any]) -> list[str]:
    """ops/s against coroutines, per backend: generated, floor, x floor."""
    lines = [
        "| backend | operation | coroutines | generated ops/s | floor ops/s "
        "| x floor | tuned ops/s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend, b in results["backends"].items():
        conc = b.get("concurrency")
        if not conc:
            continue
        floor, tuned = FLOOR[backend], IMPLS[backend][2]
        for op in ("get", "upsert"):
            for c in sorted(conc[op]["generated"], key=int):
                g = med(conc[op]["generated"].get(c))
                f = med(conc[op].get(floor, {}).get(c))
                t = med(conc[op].get(tuned, {}).get(c))
                lines.append(
                    f"| {NAMES[backend]} | {op} | {c} | {fmt(g)} | {fmt(f)} "
                    f"| {ratio(g, f)} | {fmt(t)} |"
                )
    return lines


def processes_table(results: dict[str, Any]) -> list[str]:
    """Writer processes on one database: throughput and the checks."""
    lines = [
        "| backend | implementation | processes | ops/s (median) | acknowledged "
        "appends | lost | shared rows not a written value | task rows "
        "as expected | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for backend, b in results["backends"].items():
        procs = b.get("processes")
        if not procs:
            continue
        for impl in ("generated", FLOOR[backend]):
            for p, rounds in sorted(
                procs.get(impl, {}).items(), key=lambda x: int(x[0])
            ):
                rate = med([r["ops_per_s"] for r in rounds])
                acked = sum(r["acked_appends"] for r in rounds)
                lost = sum(r["lost"] for r in rounds)
                torn = sum(r["hot_rows_not_a_written_value"] for r in rounds)
                rows_ok = all(
                    r["tasks_rows"] == r["tasks_rows_expected"] for r in rounds
                )
                errors = sum(r["errors"] for r in rounds)
                lines.append(
                    f"| {NAMES[backend]} | {LABELS[impl]} | {p} | {fmt(rate)} "
                    f"| {acked:,} | {lost} | {torn} | {'yes' if rows_ok else '**no**'} "
                    f"| {errors} |"
                )
    return lines


def memory_table(results: dict[str, Any]) -> list[str]:
    """Peak RSS growth (MiB) and seconds of reading a whole table."""
    all_sizes = sorted({s for b in results["backends"].values() for s in _sizes(b)})
    lines = [
        "| backend | how |" + "".join(f" {s:,} rows |" for s in all_sizes),
        "| --- | --- |" + " ---: |" * len(all_sizes),
    ]
    for backend, b in results["backends"].items():
        labels: list[str] = []
        for s in _sizes(b):
            for label in b["sizes"][str(s)].get("memory", {}):
                if label not in labels:
                    labels.append(label)
        for label in labels:
            cells = []
            for s in all_sizes:
                m = b.get("sizes", {}).get(str(s), {}).get("memory", {}).get(label)
                cells.append(
                    " - |"
                    if m is None
                    else f" {m['peak_mib']:,.1f} MiB, {m['seconds']:.1f} s |"
                )
            lines.append(f"| {NAMES[backend]} | {label} |" + "".join(cells))
    return lines


def render_markdown(results: dict[str, Any], img_prefix: str) -> str:
    """The whole result block."""
    meta = results["meta"]
    keep = ("CPU", "Memory", "OS", "Python", "Packages")
    parts = [
        f"Command: `{meta.get('command', 'python -m bench.scale')}`; "
        f"{meta.get('trials')} trials per cell (medians), "
        f"{meta.get('budget_s')} s per timed cell; ran {meta.get('started')} "
        f"for {meta.get('seconds', '?')} s.",
        "",
        "Machine:",
        "",
        *(f"- {k}: {meta[k]}" for k in keep if k in meta),
        *(f"- {NAMES[b]}: {meta[b]}" for b in ("sqlite", "postgres") if b in meta),
        f"- Load average (1/5/15 min) at start: {meta.get('load average at start')}, "
        f"at end: {meta.get('load average at end', '?')}; the machine was "
        "shared with other work during the run: read the ratios, not the "
        "absolute figures.",
        "",
        "#### Cost against table size",
        "",
        f"![cost against table size]({img_prefix}scale-size.png)",
        "",
        f"![OFFSET vs keyset paging]({img_prefix}scale-paging.png)",
        "",
    ]
    for backend, b in results["backends"].items():
        if b.get("sizes"):
            parts += [*size_table(backend, b), ""]
    parts += [
        "#### Throughput against concurrency and processes",
        "",
        f"![throughput against concurrency]({img_prefix}scale-concurrency.png)",
        "",
        *concurrency_table(results),
        "",
        *processes_table(results),
        "",
        "#### Peak memory of reading a whole table in one call",
        "",
        f"![peak memory]({img_prefix}scale-memory.png)",
        "",
        *memory_table(results),
    ]
    return "\n".join(parts).rstrip() + "\n"


# ------------------------------------------------------------------- plots


def _line(
    ax: Any,
    xs: Sequence[float],
    ys: Sequence[float | None],
    backend: str,
    impl: str,
    label: str,
) -> None:
    pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
    if not pts:
        return
    style = STYLES.get(impl, ":")
    ax.plot(
        [p[0] for p in pts],
        [p[1] for p in pts],
        style,
        color=COLORS[backend],
        marker="o" if impl.startswith("generated") else ".",
        linewidth=2 if impl == "generated" else 1.2,
        markersize=4,
        label=label,
    )


def plot_sizes(results: dict[str, Any], path: Path) -> None:
    """µs per call against rows, one panel per basic operation."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(9, 6.4))
    for ax, op in zip(axes.flat, BASIC_OPS, strict=True):
        for backend, b in results["backends"].items():
            sizes = _sizes(b)
            for impl in IMPLS[backend]:
                ys = [
                    med(b["sizes"][str(s)]["ops"].get(op, {}).get(impl)) for s in sizes
                ]
                _line(ax, sizes, ys, backend, impl, f"{NAMES[backend]} {LABELS[impl]}")
        ax.set_title(op, fontsize=10)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows in table", fontsize=8)
        ax.set_ylabel("µs per call", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=72)
    plt.close(fig)


def plot_paging(results: dict[str, Any], path: Path) -> None:
    """µs per page against its position, OFFSET vs keyset, at the largest size."""
    import matplotlib.pyplot as plt

    backends = list(results["backends"].items())
    fig, axes = plt.subplots(1, max(1, len(backends)), figsize=(9, 3.6), squeeze=False)
    for ax, (backend, b) in zip(axes.flat, backends, strict=False):
        sizes = _sizes(b)
        if not sizes:
            continue
        top = sizes[-1]
        ops = b["sizes"][str(top)]["ops"]
        offsets = sorted(int(op.split()[1]) for op in ops if op.startswith("offset "))
        xs = [max(k, 10) for k in offsets]  # log axis: 0 drawn at 10
        for impl in (IMPLS[backend][0], FLOOR[backend]):
            for kind, style in (("offset", "-"), ("keyset", "--")):
                ys = [med(ops.get(f"{kind} {k}", {}).get(impl)) for k in offsets]
                pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
                ax.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    style,
                    marker="o" if impl == "generated" else ".",
                    color="tab:red" if kind == "offset" else "tab:green",
                    alpha=1.0 if impl == "generated" else 0.5,
                    label=f"{LABELS[impl]} {kind}",
                )
        ax.set_title(f"{NAMES[backend]}: page of 50, {top:,}-row log", fontsize=10)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("position of the page (rows skipped; 0 drawn at 10)", fontsize=8)
        ax.set_ylabel("µs per page", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def plot_concurrency(results: dict[str, Any], path: Path) -> None:
    """ops/s against coroutines (get, upsert) and against processes."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    for ax, op in zip(axes[:2], ("get", "upsert"), strict=True):
        for backend, b in results["backends"].items():
            conc = b.get("concurrency", {}).get(op)
            if not conc:
                continue
            for impl in IMPLS[backend]:
                cs = sorted(conc.get(impl, {}), key=int)
                ys = [med(conc[impl][c]) for c in cs]
                _line(
                    ax,
                    [int(c) for c in cs],
                    ys,
                    backend,
                    impl,
                    f"{NAMES[backend]} {LABELS[impl]}",
                )
        ax.set_title(f"{op}: coroutines on one backend", fontsize=10)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel("concurrent coroutines", fontsize=8)
        ax.set_ylabel("ops/s", fontsize=8)
    ax = axes[2]
    for backend, b in results["backends"].items():
        procs = b.get("processes", {})
        for impl in ("generated", FLOOR[backend]):
            ps = sorted(procs.get(impl, {}), key=int)
            ys = [med([r["ops_per_s"] for r in procs[impl][p]]) for p in ps]
            _line(
                ax,
                [int(p) for p in ps],
                ys,
                backend,
                impl,
                f"{NAMES[backend]} {LABELS[impl]}",
            )
    ax.set_title("mixed ops: OS processes on one db", fontsize=10)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("processes (8 coroutines each)", fontsize=8)
    ax.set_ylabel("ops/s (all processes)", fontsize=8)
    for a in axes:
        a.set_ylim(bottom=0)
        a.tick_params(labelsize=7)
        a.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(path, dpi=72)
    plt.close(fig)


def plot_memory(results: dict[str, Any], path: Path) -> None:
    """Peak RSS growth against rows read in one call."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for backend, b in results["backends"].items():
        sizes = [s for s in _sizes(b) if "memory" in b["sizes"][str(s)]]
        if not sizes:
            continue
        for label in b["sizes"][str(sizes[0])]["memory"]:
            ys = [
                b["sizes"][str(s)]["memory"].get(label, {}).get("peak_mib")
                for s in sizes
            ]
            ys = [None if y is None else max(y, 0.1) for y in ys]
            impl = (
                "generated-stream"
                if label.startswith("generated iter")
                else "generated"
                if label.startswith("generated")
                else "streamed"
                if label.endswith("streamed")
                else FLOOR[backend]
            )
            _line(ax, sizes, ys, backend, impl, f"{NAMES[backend]} {label}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows read (whole table)", fontsize=8)
    ax.set_ylabel("peak RSS growth, MiB", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def render_all(results: dict[str, Any], out: Path, *, doc: bool = False) -> list[Path]:
    """PNGs and ``scale.md`` in ``out``; with ``doc``, into docs/ as well."""
    import matplotlib

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    pngs = [out / f"scale-{n}.png" for n in ("size", "paging", "concurrency", "memory")]
    plot_sizes(results, pngs[0])
    plot_paging(results, pngs[1])
    plot_concurrency(results, pngs[2])
    plot_memory(results, pngs[3])
    md = out / "scale.md"
    md.write_text(render_markdown(results, ""))
    written = [*pngs, md]
    if doc:
        IMG.mkdir(parents=True, exist_ok=True)
        for png in pngs:
            shutil.copyfile(png, IMG / png.name)
            written.append(IMG / png.name)
        write_doc(render_markdown(results, "img/"))
        written.append(DOC)
    return written


def write_doc(block: str) -> None:
    """Replace the bench-scale block of docs/benchmarks.md (appended if absent)."""
    text = DOC.read_text()
    if START not in text or END not in text:
        text = text.rstrip() + f"\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{block}{END}{tail}")


def main(argv: Sequence[str] | None = None) -> int:
    """Redraw from a scale.json."""
    p = argparse.ArgumentParser(prog="python -m bench.plots")
    p.add_argument("json", type=Path)
    p.add_argument("--out", type=Path, help="output directory (default: the json's)")
    p.add_argument("--doc", action="store_true", help="also update docs/")
    args = p.parse_args(argv)
    results = json.loads(args.json.read_text())
    for path in render_all(results, args.out or args.json.parent, doc=args.doc):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
