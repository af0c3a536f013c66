"""``status``: applied, pending, unknown and edited revisions of a database."""

from __future__ import annotations

import argparse
import json
from typing import Any

from synthorg.persistence.cli._common import (
    DATABASE_HELP,
    EXIT_NOT_OK,
    EXIT_OK,
    add_database_arguments,
    connected,
    describe,
    resolve_config,
    run,
)
from synthorg.persistence.migrations import MigrationStatus

HELP = "compare the database's revisions with this code's (exit 1: not up to date)"
DESCRIPTION = (
    """\
Compare the revisions recorded in the database with the ones this code
ships: applied, pending (migrate applies them), unknown (recorded by newer
code) and mismatched (edited after they were applied). Exit 0 when the
database is exactly at this code's revisions, 1 otherwise. Works on a
database that is behind (repository calls are refused there until it is
migrated). Changes nothing.

"""
    + DATABASE_HELP
)

NOTES = {
    "pending": "not applied yet",
    "unknown": "recorded by newer code: upgrade this code",
    "mismatched": "edited after it was applied: restore the file",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_database_arguments(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (database, backend, up_to_date, applied, "
        "pending, unknown, mismatched) instead of text",
    )
    parser.set_defaults(func=command)


def as_json(where: str, kind: str, status: MigrationStatus) -> str:
    return json.dumps(
        {
            "database": where,
            "backend": kind,
            "up_to_date": status.up_to_date,
            "applied": list(status.applied),
            "pending": list(status.pending),
            "unknown": list(status.unknown),
            "mismatched": list(status.mismatched),
        },
        indent=2,
    )


def as_text(where: str, status: MigrationStatus) -> list[str]:
    lines = [
        f"database: {where}",
        f"revisions: {len(status.applied)} applied, {len(status.pending)} pending, "
        f"{len(status.unknown)} unknown, {len(status.mismatched)} mismatched",
    ]
    for state in ("pending", "unknown", "mismatched"):
        names: tuple[str, ...] = getattr(status, state)
        lines.extend(f"  {state:<10} {name}  ({NOTES[state]})" for name in names)
    if status.up_to_date:
        lines.append("up to date")
    elif status.unknown or status.mismatched:
        lines.append(
            "not up to date: migrate refuses this database (unknown or edited "
            "revisions; see docs/migrations.md)"
        )
    else:
        lines.append("not up to date: run `synthorg-persistence migrate`")
    return lines


def command(args: argparse.Namespace) -> int:
    config = resolve_config(args)
    where = describe(config)

    async def go() -> tuple[str, MigrationStatus]:
        async with connected(config) as backend:
            return backend.kind, await backend.migration_status()

    kind, status = run(go)
    if args.json:
        print(as_json(where, kind, status))
    else:
        print("\n".join(as_text(where, status)))
    return EXIT_OK if status.up_to_date else EXIT_NOT_OK
