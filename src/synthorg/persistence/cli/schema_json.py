"""``synthorg-persistence schema-json``: print the JSON Schema of schema/*.yaml.

A schema verb: it needs a source checkout with the dev extra (``codegen``
is imported only when the verb runs, so the runtime verbs work from a
wheel without it).
"""

from __future__ import annotations

import argparse
from typing import Any

from synthorg.persistence.cli._common import load_codegen

HELP = """\
Print the JSON Schema (draft 2020-12) of the schema files, derived from the
generator's spec models. The committed copy is schema/_schema.json (kept
fresh by `check`); each schema/*.yaml names it on its first line,
`# yaml-language-server: $schema=./_schema.json`, so editors with the YAML
language server complete and validate keys. Needs a source checkout with
the dev extra.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schema-json",
        help="print the JSON Schema of the schema YAML files",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    code: int = load_codegen().schema_json_command()  # CliError outside a checkout
    return code
