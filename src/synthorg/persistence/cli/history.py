"""``history``: the revisions this code ships, and when each was applied."""

from __future__ import annotations

import argparse
import json
from typing import Any

from synthorg.persistence.cli._common import (
    DATABASE_HELP,
    EXIT_OK,
    add_database_arguments,
    applied_records,
    connected,
    describe,
    resolve_config,
    run,
)
from synthorg.persistence.migrations import load_revisions, revision_file

HELP = "list this code's revisions in order, with when each was applied"
DESCRIPTION = (
    """\
List the migration revisions this code ships, oldest first, each with the
time it was applied on this database (UTC, as recorded in
_synthorg_migrations) or "pending"; then any revision the database records
that this code does not know. A revision edited after it was applied is
marked. Changes nothing; exit 0.

"""
    + DATABASE_HELP
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "history",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_database_arguments(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of {revision, file, state, applied_at} instead",
    )
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    config = resolve_config(args)
    where = describe(config)

    async def go() -> tuple[str, dict[str, tuple[str, str]]]:
        async with connected(config) as backend:
            return backend.kind, await applied_records(backend)

    kind, records = run(go)
    revisions = load_revisions(kind)
    rows: list[dict[str, Any]] = []
    for revision in revisions:
        record = records.get(revision.name)
        state = (
            "pending"
            if record is None
            else "applied"
            if record[0] == revision.checksum
            else "mismatched"
        )
        rows.append(
            {
                "revision": revision.name,
                "file": revision_file(kind, revision.name),
                "state": state,
                "applied_at": None if record is None else record[1],
            }
        )
    known = {r.name for r in revisions}
    for name in sorted(set(records) - known):
        rows.append(
            {
                "revision": name,
                "file": None,
                "state": "unknown",
                "applied_at": records[name][1],
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    width = max((len(r["revision"]) for r in rows), default=8)
    print(f"database: {where}")
    notes = {
        "mismatched": "  (edited after it was applied)",
        "unknown": "  (unknown to this code: applied by newer code)",
    }
    for row in rows:
        when = "pending" if row["applied_at"] is None else row["applied_at"]
        print(f"  {row['revision']:<{width}}  {when}{notes.get(row['state'], '')}")
    applied = sum(1 for r in rows if r["state"] != "pending")
    print(f"{len(revisions)} revision(s) in this code; {applied} applied here")
    return EXIT_OK
