"""The command line of the generator: ``python -m codegen <verb>``.

``generate`` runs :func:`codegen.pipeline.generate` (render, then write,
removing files the schema no longer produces); ``check`` runs
:func:`codegen.pipeline.check` (render to memory and exit 1, naming every
stale, missing or extra file of ``generated/``, of the generated pages of
``docs/`` and of ``schema/_schema.json``, the JSON Schema for editors).
``renumber`` moves this branch's revisions after a merged history
(:mod:`codegen.renumber`); ``schema-json`` prints the JSON Schema of the
schema files (:mod:`codegen.json_schema`). This module only parses
arguments, prints and picks exit codes; the stages live in
:mod:`codegen.pipeline`. The ``synthorg-persistence`` schema verbs call
:func:`run`, :func:`renumber_command` and :func:`schema_json_command`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codegen import json_schema
from codegen.migrations import HistoryError, MigrationPlanError
from codegen.output import ROOT
from codegen.pipeline import check, generate
from codegen.renumber import base_state_from_git, renumber
from codegen.spec import SpecError

__all__ = ["ROOT", "check", "generate", "main", "run"]


def schema_json_command() -> int:
    """``schema-json``: print the JSON Schema of the schema files."""
    sys.stdout.write(json_schema.render())
    return 0


def renumber_command(
    schema_dir: Path,
    out_dir: Path,
    onto: str,
    base_state: Path | None,
    allow_destructive: bool = False,
) -> int:
    """``renumber``: keep the base's revisions, plan this branch's after them."""
    try:
        if base_state is not None:
            base_name = str(base_state)
            base_text: str | None = base_state.read_text(encoding="utf-8")
        else:
            base_name = onto
            base_text = base_state_from_git(out_dir, onto)
        done = renumber(schema_dir, out_dir, base_text, base_name, allow_destructive)
    except SpecError as exc:
        print(f"schema error: {exc}", file=sys.stderr)
        return 2
    except MigrationPlanError as exc:
        print(f"renumber refused: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"renumber: {exc}", file=sys.stderr)
        return 2
    kept = sorted({p.rsplit("/", 1)[-1] for p in done.kept})
    removed = sorted({p.rsplit("/", 1)[-1] for p in done.removed})
    added = sorted({p.rsplit("/", 1)[-1] for p in done.added})
    print(
        f"renumber: kept {len(kept)} revision(s) of {base_name}"
        + (f" (newest {kept[-1]})" if kept else "")
        + (
            f"; this branch's {', '.join(removed)} -> {', '.join(added) or 'none'}"
            if removed
            else "; no revision of this branch to move"
        )
    )
    print(
        f"generated: {len(done.changed)} file(s) changed"
        + "".join(f"\n  {p}" for p in done.changed)
    )
    return 0


RENUMBER_HELP = """\
After merging a branch that also changed the schema (two revisions with
one number, state.json with conflict markers): keep the revisions of the
branch you merged (--onto, default main: those are applied in production)
and plan this branch's again, after them, from the merged YAML. Touches
only revision files the base does not record: never run it on the base
branch itself. See docs/migrations.md, "Parallel branches".
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m codegen",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="renumber:\n" + RENUMBER_HELP,
    )
    parser.add_argument(
        "command", choices=("generate", "check", "renumber", "schema-json")
    )
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
    parser.add_argument(
        "--onto",
        default="main",
        help="renumber: the git branch merged in, whose revisions are kept "
        "(default: main)",
    )
    parser.add_argument(
        "--base-state",
        type=Path,
        default=None,
        help="renumber: read the kept history from this state.json instead of git",
    )
    args = parser.parse_args(argv)
    if args.command == "schema-json":
        return schema_json_command()
    if args.command == "renumber":
        return renumber_command(
            args.schema, args.out, args.onto, args.base_state, args.allow_destructive
        )
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
    1 stale, 2 schema error, refused migration or broken history.
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
        history = isinstance(exc, HistoryError)
        label = "migration history" if history else "migration refused"
        print(f"{label}: {exc}", file=sys.stderr)
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
