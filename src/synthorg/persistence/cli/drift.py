"""``drift``: where the live database's schema differs from the generated one."""

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

HELP = "compare the live schema with the generated one (exit 1: drift found)"
DESCRIPTION = (
    """\
Read the database's catalog and compare its tables, columns (type,
nullability, default), primary keys, checks, foreign keys and indexes with
the schema this code generates (the check of python -m
synthorg.persistence.drift). Prints every difference, grouped by table;
exit 0 when there is none, 1 when there is. A database that is behind shows
the pending revisions' changes as drift. Changes nothing.

"""
    + DATABASE_HELP
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "drift",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_database_arguments(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON object {database, drift: [difference, ...], "
        "pending: [...]} instead",
    )
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from synthorg.persistence.drift import check_drift, report

    config = resolve_config(args)
    where = describe(config)

    async def go() -> tuple[list[str], tuple[str, ...]]:
        async with connected(config) as backend:
            status = await backend.migration_status()
            return await check_drift(backend), status.pending

    problems, pending = run(go)
    if args.json:
        print(
            json.dumps(
                {"database": where, "drift": problems, "pending": list(pending)},
                indent=2,
            )
        )
        return EXIT_NOT_OK if problems else EXIT_OK
    print(f"database: {where}")
    if not problems:
        print("no drift: the schema matches the generated one")
        return EXIT_OK
    print(f"drift: {len(problems)} difference(s) from the generated schema")
    print("\n".join(f"  {line}" for line in report(problems)))
    if pending:
        print(
            f"note: {len(pending)} revision(s) pending; run "
            "`synthorg-persistence migrate`, then check again"
        )
    return EXIT_NOT_OK
