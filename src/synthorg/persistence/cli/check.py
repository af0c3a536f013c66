"""``check``: fail when generated/ is stale (``make check``'s first step)."""

from __future__ import annotations

import argparse
from typing import Any

from synthorg.persistence.cli._common import add_schema_arguments, load_codegen

HELP = "fail when generated/ differs from a fresh render of schema/"
DESCRIPTION = """\
Render schema/ in memory and compare it with generated/, naming every
stale, missing or extra file (the code of `python -m codegen check`, the
first step of `make check`). Writes nothing. Exit 0 up to date; 1 stale;
2 schema error or an edited revision; 3 no checkout or dev extra.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_schema_arguments(parser)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    code: int = load_codegen().run("check", args.schema, args.out)
    return code
