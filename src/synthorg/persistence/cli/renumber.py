"""``synthorg-persistence renumber``: this branch's revisions after a merge.

A schema verb (source checkout with the dev extra; ``codegen`` is imported
only when it runs). See :mod:`codegen.renumber` and docs/migrations.md,
"Parallel branches".
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from synthorg.persistence.cli._common import load_codegen

HELP = """\
After merging a branch that also changed the schema, `generate` refuses the
merged history (two revisions with one number, state.json with conflict
markers). renumber keeps every revision of the branch you merged (--onto,
default main: those are the ones databases have applied) byte for byte,
removes this branch's revisions (the revision files the base does not
record: never applied outside a developer's machine), resets state.json to
the base's and plans this branch's changes again from the merged YAML, as
the next revision(s) after the base. Resolve conflicts in schema/*.yaml
first; conflicts in other generated files are overwritten.

A schema verb: needs a source checkout with the dev extra (see
docs/migrations.md, "Parallel branches").

exit status: 0 done; 2 refused (unreadable base, lost base revision, schema
or migration error), with the reason on stderr.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "renumber",
        help="after a merge, plan this branch's revisions after the merged ones",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--onto",
        default="main",
        metavar="REF",
        help="the git branch or commit merged in, whose revisions are kept "
        "(default: main)",
    )
    parser.add_argument(
        "--base-state",
        type=Path,
        metavar="FILE",
        help="read the kept history from this state.json instead of git "
        "(e.g. `git show main:generated/migrations/state.json > FILE`)",
    )
    parser.add_argument(
        "--schema",
        type=Path,
        metavar="DIR",
        help="the schema folder (default: schema/ of the checkout)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="the generated folder (default: generated/ of the checkout)",
    )
    parser.add_argument(
        "--allow-destructive",
        action="store_true",
        help="allow destructive changes in the revision planned again",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    codegen_cli = load_codegen()  # CliError (exit 3) outside a checkout
    root: Path = codegen_cli.ROOT
    code: int = codegen_cli.renumber_command(
        args.schema or root / "schema",
        args.out or root / "generated",
        args.onto,
        args.base_state,
        args.allow_destructive,
    )
    return code
