"""``synthorg-persistence``: the command-line tool (``python -m synthorg.persistence``).

One subcommand per verb; each verb is the module ``cli/<verb>.py`` (hyphens
become underscores) exposing ``register(subparsers)``, which adds its parser
(with its ``--help`` text) and sets ``func(args) -> int``.

Runtime verbs (``migrate``, ``status``, ``history``, ``drift``) work from an
installed wheel; schema verbs (``generate``, ``check``, ``new``) need a
source checkout with the dev extra. Exit codes: 0 ok; 1 not up to date,
check failed or drift found; 2 usage error; 3 cannot connect or runtime
error. Errors go to stderr as one line and never contain a password.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from synthorg.persistence.cli._common import EXIT_RUNTIME, EXIT_USAGE, CliError

__all__ = ["VERBS", "build_parser", "main"]

VERBS: tuple[str, ...] = (
    "migrate",
    "status",
    "history",
    "drift",
    "diagram",
    "generate",
    "check",
    "new",
    "schema-json",
    "renumber",
)
"""The verb modules, in ``--help`` order."""

DESCRIPTION = """\
Operate a synthorg.persistence database (migrate, status, history, drift,
diagram) and, in a source checkout, its schema (generate, check, new, schema-json,
renumber).

The database of a runtime verb is --sqlite PATH, --dsn URL, or the
environment: SYNTHORG_DB_BACKEND, SYNTHORG_SQLITE_PATH, SYNTHORG_DB_DSN,
SYNTHORG_PG_HOST/PORT/DATABASE/USER/SSLMODE, SYNTHORG_PG_PASSWORD or
SYNTHORG_PG_PASSWORD_FILE (see docs/cli.md)."""

EPILOG = """\
exit codes: 0 ok; 1 not up to date, check failed or drift found;
2 usage error (or an invalid schema); 3 cannot connect or runtime error."""


def build_parser() -> argparse.ArgumentParser:
    """The parser with every verb of ``VERBS`` registered."""
    parser = argparse.ArgumentParser(
        prog="synthorg-persistence",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log the library's INFO records (connections, revisions) to stderr",
    )
    subparsers = parser.add_subparsers(
        dest="verb", metavar="VERB", title="verbs", required=True
    )
    for verb in VERBS:
        module = importlib.import_module(f"{__name__}.{verb.replace('-', '_')}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; returns its exit code (argparse exits 2 on a usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.verbose:
        logging.basicConfig(
            level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
        )
    try:
        code: int = args.func(args)
    except CliError as exc:
        print(f"{parser.prog} {args.verb}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line, not a traceback
        print(
            f"{parser.prog} {args.verb}: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return EXIT_RUNTIME
    return code
