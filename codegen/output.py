"""The write/check stage: compare a rendered tree with the files on disk.

:func:`write` brings ``generated/`` (and the generated pages of ``docs/``,
and ``schema/_schema.json``) up to date, removing files the schema no
longer produces; :func:`check` only reports, naming every stale, missing or
extra file with a short diff. Nothing here renders: both take the
:class:`codegen.pipeline.Outputs` the earlier stages produced.

The generated pages go into ``docs_dir``, which defaults to the project's
``docs/`` when ``out_dir`` is the project's ``generated/`` and to nothing
otherwise (a scratch output folder never writes the project's docs).
"""

from __future__ import annotations

import difflib
from pathlib import Path

from codegen import json_schema

ROOT = Path(__file__).resolve().parent.parent
KEEP = {".gitattributes"}
DOCS = ROOT / "docs"


def docs_dir_for(out_dir: Path, docs_dir: Path | None) -> Path | None:
    """Where the generated pages go (None: not written, not checked)."""
    if docs_dir is not None:
        return docs_dir
    return DOCS if out_dir.resolve() == (ROOT / "generated").resolve() else None


def existing_files(out_dir: Path) -> dict[str, str]:
    """Every file now in ``out_dir`` (``.gitattributes`` and caches aside)."""
    files: dict[str, str] = {}
    for path in sorted(out_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.name not in KEEP:
            files[path.relative_to(out_dir).as_posix()] = path.read_text(
                encoding="utf-8"
            )
    return files


def _diff(current: str, rendered: str, shown: str) -> str:
    lines = difflib.unified_diff(
        current.splitlines(),
        rendered.splitlines(),
        shown,
        "rendered",
        lineterm="",
        n=1,
    )
    return "\n".join(list(lines)[:20])


def write(
    files: dict[str, str],
    pages: dict[str, str],
    schema_dir: Path,
    out_dir: Path,
    docs_dir: Path | None = None,
) -> list[str]:
    """Write what changed; returns the changed paths.

    Paths are relative to ``out_dir``; a generated page is named
    ``docs/<name>``; the editors' JSON Schema ``<schema>/_schema.json``.
    """
    existing = existing_files(out_dir)
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
    pages_dir = docs_dir_for(out_dir, docs_dir)
    if pages_dir is not None:
        for name, text in pages.items():
            target = pages_dir / name
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
                changed.append(f"docs/{name}")
    # The editors' JSON Schema, when the YAML headers name it (as schema/...).
    changed += json_schema.write(schema_dir)
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
            problems.append(
                f"stale: docs/{name}\n" + _diff(current, text, f"docs/{name}")
            )
    return problems


def check(
    files: dict[str, str],
    pages: dict[str, str],
    schema_dir: Path,
    out_dir: Path,
    docs_dir: Path | None = None,
) -> list[str]:
    """Problems of ``out_dir`` (and docs, JSON Schema) against ``files``."""
    existing = existing_files(out_dir)
    problems: list[str] = []
    for path, text in files.items():
        if path not in existing:
            problems.append(f"missing: generated/{path}")
        elif existing[path] != text:
            problems.append(
                f"stale: generated/{path}\n"
                + _diff(existing[path], text, f"generated/{path}")
            )
    problems.extend(
        f"extra: generated/{path}" for path in sorted(set(existing) - set(files))
    )
    pages_dir = docs_dir_for(out_dir, docs_dir)
    if pages_dir is not None:
        problems.extend(_check_pages(pages, pages_dir))
    problems.extend(json_schema.problems(schema_dir))
    return problems
