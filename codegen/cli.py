"""Stage 4: write ``generated/`` and ``docs/`` or check they are up to date.

``python -m codegen generate`` renders and writes (removing files the schema
no longer produces); ``python -m codegen check`` renders to memory and exits
1, naming every stale, missing or extra file, when ``generated/`` differs.

The generated pages of ``docs/`` (``docs/entities.md``) are written and
checked too, file by file (the hand-written pages beside them are never
touched): into ``docs_dir``, which defaults to the project's ``docs/`` when
``out_dir`` is the project's ``generated/`` and to nothing otherwise (a
scratch output folder never writes the project's docs).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from codegen.migrations import MigrationPlanError
from codegen.render import render_outputs
from codegen.spec import SpecError

ROOT = Path(__file__).resolve().parent.parent
KEEP = {".gitattributes"}
DOCS = ROOT / "docs"


def _docs_dir(out_dir: Path, docs_dir: Path | None) -> Path | None:
    """Where the generated pages go (None: not written, not checked)."""
    if docs_dir is not None:
        return docs_dir
    return DOCS if out_dir.resolve() == (ROOT / "generated").resolve() else None


def _existing(out_dir: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(out_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.name not in KEEP:
            files[path.relative_to(out_dir).as_posix()] = path.read_text(
                encoding="utf-8"
            )
    return files


def generate(
    schema_dir: Path,
    out_dir: Path,
    allow_destructive: bool = False,
    docs_dir: Path | None = None,
) -> list[str]:
    """Write every rendered file; returns the paths that changed.

    Paths are relative to ``out_dir``; a generated page of ``docs_dir``
    (see the module docstring) is named ``docs/<name>``.
    """
    files, pages = render_outputs(
        schema_dir, out_dir, allow_destructive=allow_destructive
    )
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
    pages_dir = _docs_dir(out_dir, docs_dir)
    if pages_dir is not None:
        for name, text in pages.items():
            target = pages_dir / name
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
                changed.append(f"docs/{name}")
    return changed


def _check_pages(pages: dict[str, str], pages_dir: Path) -> list[str]:
    problems: list[str] = []
    for name, text in pages.items():
        target = pages_dir / name
        if not target.is_file():
            problems.append(f"missing: docs/{name}")
            continue
        current = target.read_text(encoding="utf-8")
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(),
                text.splitlines(),
                f"docs/{name}",
                "rendered",
                lineterm="",
                n=1,
            )
            problems.append(f"stale: docs/{name}\n" + "\n".join(list(diff)[:20]))
    return problems


def check(schema_dir: Path, out_dir: Path, docs_dir: Path | None = None) -> list[str]:
    """Problems of ``out_dir`` against a fresh render (empty when up to date).

    The generated pages of ``docs_dir`` are checked too (see the module
    docstring for the default).
    """
    files, pages = render_outputs(schema_dir, out_dir)
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
    pages_dir = _docs_dir(out_dir, docs_dir)
    if pages_dir is not None:
        problems.extend(_check_pages(pages, pages_dir))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen")
    parser.add_argument("command", choices=("generate", "check"))
    parser.add_argument("--schema", type=Path, default=ROOT / "schema")
    parser.add_argument("--out", type=Path, default=ROOT / "generated")
    parser.add_argument(
        "--docs",
        type=Path,
        default=None,
        help="folder of the generated pages (default: docs/ when --out is the "
        "project's generated/, else none)",
    )
    parser.add_argument(
        "--allow-destructive",
        action="store_true",
        help="allow destructive schema changes (drop, narrow) in the next revision",
    )
    args = parser.parse_args(argv)
    return run(args.command, args.schema, args.out, args.allow_destructive, args.docs)


def run(
    command: str,
    schema_dir: Path | None = None,
    out_dir: Path | None = None,
    allow_destructive: bool = False,
    docs_dir: Path | None = None,
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
            changed = generate(schema_dir, out_dir, allow_destructive, docs_dir)
            print(
                f"generated: {len(changed)} file(s) changed"
                + "".join(f"\n  {p}" for p in changed)
            )
            return 0
        if command != "check":
            raise ValueError(f"unknown command {command!r}")
        problems = check(schema_dir, out_dir, docs_dir)
    except SpecError as exc:
        print(f"schema error: {exc}", file=sys.stderr)
        return 2
    except MigrationPlanError as exc:
        print(f"migration refused: {exc}", file=sys.stderr)
        return 2
    if problems:
        print(
            "generated/ (or docs/entities.md) is stale; run `make generate`:\n"
            + "\n".join(problems),
            file=sys.stderr,
        )
        return 1
    print("generated/ is up to date")
    return 0
