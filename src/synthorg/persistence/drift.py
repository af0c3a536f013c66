"""Live drift check: where a database's schema differs from the generated one.

The desired state is the generated desired-state DDL
(``generated/ddl/<dialect>.sql``). Rather than parse it, the check builds it
in a scratch place (an in-memory SQLite database; a PostgreSQL schema inside
a transaction that is rolled back) and reads both sides through the same
catalog queries, so each side's text is normalised by the database itself.
The catalog queries are each dialect's own (``sqlite/drift.py``,
``postgres/drift.py``); this module holds the dialect-neutral part: the
compared shape, the comparison and its report.

Tables, columns (type, nullability, default), primary keys, checks, foreign
keys and indexes are compared by name; column order is not (an added column
comes last on both dialects). Command line::

    python -m synthorg.persistence.drift --sqlite PATH
    python -m synthorg.persistence.drift --dsn "host=... dbname=..."
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthorg.persistence.dialects import dialect_runtime

if TYPE_CHECKING:
    from synthorg.persistence.protocol import PersistenceBackend

Fetch = Callable[[str, tuple[Any, ...]], Awaitable[list[tuple[Any, ...]]]]
Schema = dict[str, dict[str, dict[str, Any]]]  # table -> aspect -> name -> shape
ASPECTS = ("columns", "primary key", "checks", "foreign keys", "indexes")


def desired_ddl(dialect: str, generated: Path | None = None) -> str:
    """The generated desired-state DDL of ``dialect``."""
    root = (
        resources.files("synthorg.persistence.generated")
        if generated is None
        else generated
    )
    return (root / "ddl" / f"{dialect}.sql").read_text("utf-8")


def norm(text: str) -> str:
    """``text`` with every run of whitespace made one space."""
    return " ".join(text.split())


def compare(
    live: Schema, desired: Schema, skip_pk: frozenset[str] = frozenset()
) -> list[str]:
    """Every difference of ``live`` from ``desired``, one readable line each."""
    problems: list[str] = []
    for table in sorted(set(desired) - set(live)):
        problems.append(f"missing table {table!r}")
    for table in sorted(set(live) - set(desired)):
        problems.append(f"unexpected table {table!r}")
    for table in sorted(set(live) & set(desired)):
        for aspect in ASPECTS:
            if aspect == "primary key" and table in skip_pk:
                continue
            have, want = live[table][aspect], desired[table][aspect]
            for name in sorted(set(want) - set(have)):
                problems.append(f"{table}: missing {aspect} {name!r}: {want[name]}")
            for name in sorted(set(have) - set(want)):
                problems.append(f"{table}: unexpected {aspect} {name!r}: {have[name]}")
            for name in sorted(set(have) & set(want)):
                if have[name] != want[name]:
                    problems.append(
                        f"{table}: {aspect} {name!r} differs: "
                        f"database has {have[name]}, schema wants {want[name]}"
                    )
    return problems


def report(problems: list[str]) -> list[str]:
    """``compare``'s lines grouped by table, for people: a heading per table.

    Whole-table lines (missing or unexpected tables) come first, then each
    table's differences, indented under its name.
    """
    tables: dict[str, list[str]] = {}
    lines: list[str] = []
    for problem in problems:
        table, sep, rest = problem.partition(": ")
        if sep and " " not in table:
            tables.setdefault(table, []).append(rest)
        else:
            lines.append(problem)
    for table in sorted(tables):
        lines.append(f"{table}:")
        lines.extend(f"  {rest}" for rest in tables[table])
    return lines


async def check_drift(
    backend: PersistenceBackend, generated: Path | None = None
) -> list[str]:
    """Where the connected ``backend``'s database differs from the generated schema.

    The backend's dialect reads both sides (see its ``drift``).
    """
    return await dialect_runtime(backend.kind).drift(backend, generated)


async def _run(args: argparse.Namespace) -> list[str]:
    """The drift of the database the command line names (``--sqlite``/``--dsn``)."""
    sqlite = args.sqlite is not None
    kind, target = ("sqlite", args.sqlite) if sqlite else ("postgres", args.dsn)
    return await dialect_runtime(kind).drift_at(target, args.generated)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synthorg.persistence.drift")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--sqlite", help="path of a SQLite database file")
    target.add_argument(
        "--dsn", help="libpq connection string of a PostgreSQL database"
    )
    parser.add_argument(
        "--generated", type=Path, help="a generated/ folder (default: installed)"
    )
    args = parser.parse_args(argv)
    problems = asyncio.run(_run(args))
    where = f"sqlite {args.sqlite}" if args.sqlite else "postgres"
    if problems:
        print(f"{where}: schema drift:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"{where}: no drift from the generated schema")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
