"""``generate``: render generated/ from schema/ (``make generate``)."""

from __future__ import annotations

import argparse
from typing import Any

from synthorg.persistence.cli._common import add_schema_arguments, load_codegen

HELP = "regenerate generated/ from schema/ (source checkout, dev extra)"
DESCRIPTION = """\
Validate schema/*.yaml and write generated/: models, repositories, DDL and,
when the schema changed, the next migration revision for both dialects
(the code of `make generate` and `python -m codegen generate`). Needs a
source checkout and the dev extra. Exit 0 done; 2 schema error or refused
migration (a destructive change needs --allow-destructive); 3 no checkout.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "generate",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_schema_arguments(parser)
    parser.add_argument(
        "--allow-destructive",
        action="store_true",
        help="allow destructive schema changes (drop, narrow) in the next revision",
    )
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    code: int = load_codegen().run(
        "generate", args.schema, args.out, args.allow_destructive
    )
    return code
