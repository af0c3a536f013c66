"""``diagram``: print the schema's entity-relationship diagram (Mermaid).

The text is generated with the repositories (``generated/diagram.py``), so
it needs no database and no generator: it works from an installed wheel.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELP = "print the entity-relationship diagram of the schema as Mermaid text"
DESCRIPTION = (
    "Print the entity-relationship diagram of the schema (tables with their "
    "key, foreign-key and unique columns; foreign keys as edges) as a "
    "Mermaid erDiagram. Paste it into a ```mermaid block, or render it with "
    "mermaid-cli. The same diagram is embedded in docs/entities.md."
)


def register(subparsers: Any) -> None:
    """Add the ``diagram`` verb."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "diagram", help=HELP, description=DESCRIPTION
    )
    parser.add_argument(
        "--fenced",
        action="store_true",
        help="wrap the text in a ```mermaid fence (for Markdown)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the diagram to standard output; exit code 0."""
    from synthorg.persistence.generated.diagram import MERMAID

    text = f"```mermaid\n{MERMAID}```\n" if args.fenced else MERMAID
    sys.stdout.write(text)
    return 0
