"""Stage 4: write ``generated/`` or check that it is up to date.

``python -m codegen generate`` renders and writes (removing files the schema
no longer produces); ``python -m codegen check`` renders to memory and exits
1, naming every stale, missing or extra file, when ``generated/`` differs.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from codegen.migrations import MigrationPlanError
from codegen.render import render_schema
from codegen.spec import SpecError

ROOT = Path(__file__).resolve().parent.parent
KEEP = {".gitattributes"}


def _existing(out_dir: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(out_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.name not in KEEP:
            files[path.relative_to(out_dir).as_posix()] = path.read_text(
                encoding="utf-8"
            )
    return files


def generate(
    schema_dir: Path, out_dir: Path, allow_destructive: bool = False
) -> list[str]:
    """Write every rendered file; returns the paths that changed."""
    files = render_schema(schema_dir, out_dir, allow_destructive=allow_destructive)
    existing = _existing(out_dir)
    changed: list[str] = []
    for path, text in files.items():
        if existing.get(path) != text:
            target = out_dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            changed.append(path)
    for path in sorted(set(existing) - set(files)):
        (out_dir / path).unlink()
        changed.append(path)
    return changed


def check(schema_dir: Path, out_dir: Path) -> list[str]:
    """Problems of ``out_dir`` against a fresh render (empty when up to date)."""
    files = render_schema(schema_dir, out_dir)
    existing = _existing(out_dir)
    problems: list[str] = []
    for path, text in files.items():
        if path not in existing:
            problems.append(f"missing: generated/{path}")
        elif existing[path] != text:
            diff = difflib.unified_diff(
                existing[path].splitlines(),
                text.splitlines(),
                f"generated/{path}",
                "rendered",
                lineterm="",
                n=1,
            )
            problems.append(f"stale: generated/{path}\n" + "\n".join(list(diff)[:20]))
    problems.extend(
        f"extra: generated/{path}" for path in sorted(set(existing) - set(files))
    )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen")
    parser.add_argument("command", choices=("generate", "check"))
    parser.add_argument("--schema", type=Path, default=ROOT / "schema")
    parser.add_argument("--out", type=Path, default=ROOT / "generated")
    parser.add_argument(
        "--allow-destructive",
        action="store_true",
        help="allow destructive schema changes (drop, narrow) in the next revision",
    )
    args = parser.parse_args(argv)
    return run(args.command, args.schema, args.out, args.allow_destructive)


def run(
    command: str,
    schema_dir: Path | None = None,
    out_dir: Path | None = None,
    allow_destructive: bool = False,
) -> int:
    """``generate`` or ``check`` with their output and exit code.

    The one entry of ``python -m codegen``, ``make generate``/``make check``
    and ``synthorg-persistence generate``/``check``: 0 done or up to date,
    1 stale, 2 schema error or refused migration.
    """
    schema_dir = ROOT / "schema" if schema_dir is None else schema_dir
    out_dir = ROOT / "generated" if out_dir is None else out_dir
    try:
        if command == "generate":
            changed = generate(schema_dir, out_dir, allow_destructive)
            print(
                f"generated: {len(changed)} file(s) changed"
                + "".join(f"\n  {p}" for p in changed)
            )
            return 0
        if command != "check":
            raise ValueError(f"unknown command {command!r}")
        problems = check(schema_dir, out_dir)
    except SpecError as exc:
        print(f"schema error: {exc}", file=sys.stderr)
        return 2
    except MigrationPlanError as exc:
        print(f"migration refused: {exc}", file=sys.stderr)
        return 2
    if problems:
        print(
            "generated/ is stale; run `make generate`:\n" + "\n".join(problems),
            file=sys.stderr,
        )
        return 1
    print("generated/ is up to date")
    return 0
