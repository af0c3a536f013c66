"""``migrate``: apply the pending revisions, printing each with its duration."""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

from synthorg.persistence.cli._common import (
    DATABASE_HELP,
    EXIT_OK,
    add_database_arguments,
    connected,
    describe,
    resolve_config,
    run,
)

HELP = "apply the pending migration revisions"
DESCRIPTION = (
    """\
Apply every pending revision of this code to the database, each in its own
transaction under the migration lock (safe with several processes at once),
printing each applied revision with its duration. A database migrated by
newer code, or holding an edited revision, is refused (exit 3) and left as
it is. Creates a SQLite file that does not exist yet.

"""
    + DATABASE_HELP
)


class _Printer(logging.Handler):
    """Prints the migration runner's per-revision records as they come."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        revision: Any = getattr(record, "revision", None)
        duration: Any = getattr(record, "duration_ms", None)
        if revision is None or duration is None:
            return
        self.count += 1
        print(f"  applied {revision} ({duration:.1f} ms)", flush=True)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "migrate",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_database_arguments(parser)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    config = resolve_config(args)
    where = describe(config)

    async def go() -> int:
        async with connected(config, create=True) as backend:
            before = await backend.migration_status()
            if before.pending:
                print(
                    f"{where}: applying {len(before.pending)} pending revision(s)",
                    flush=True,
                )
            logger = logging.getLogger("synthorg.persistence.migrations")
            printer = _Printer()
            level = logger.level
            logger.addHandler(printer)
            if not logger.isEnabledFor(logging.INFO):
                logger.setLevel(logging.INFO)
            started = time.perf_counter()
            try:
                await backend.migrate()
            finally:
                logger.removeHandler(printer)
                logger.setLevel(level)
            elapsed = (time.perf_counter() - started) * 1000
            after = await backend.migration_status()
        if printer.count:
            print(
                f"{where}: up to date; {printer.count} revision(s) applied in "
                f"{elapsed:.1f} ms ({len(after.applied)} in all)"
            )
        else:
            print(
                f"{where}: up to date; nothing to apply "
                f"({len(after.applied)} revision(s) applied)"
            )
        return EXIT_OK

    return run(go)
