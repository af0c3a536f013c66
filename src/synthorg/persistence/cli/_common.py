"""What the verbs share: the database selection, connecting, the codegen loader.

Runtime paths import nothing beyond the installed package (no jinja2, no
pyyaml, no ``codegen``): they must work from a wheel without the dev extra.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

from synthorg.persistence.config import (
    ENV_VARIABLES,
    PersistenceConfig,
    PostgresConfig,
    SQLiteConfig,
    _env_password,
)
from synthorg.persistence.dialects import dialect_runtime, find_dialect_runtime

if TYPE_CHECKING:
    from synthorg.persistence.protocol import PersistenceBackend

EXIT_OK = 0
EXIT_NOT_OK = 1
EXIT_USAGE = 2
EXIT_RUNTIME = 3

T = TypeVar("T")

DATABASE_HELP = """\
database: --sqlite PATH, --dsn URL, or else the environment (SYNTHORG_DB_DSN,
SYNTHORG_SQLITE_PATH, SYNTHORG_PG_*; see docs/cli.md). A --dsn without a
password takes it from SYNTHORG_PG_PASSWORD or SYNTHORG_PG_PASSWORD_FILE."""


class CliError(Exception):
    """A failure reported as one line on stderr with an exit code."""

    def __init__(self, message: str, code: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.code = code


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    """``--sqlite PATH`` | ``--dsn URL`` (else the environment)."""
    group = parser.add_argument_group(
        "database", "where the database is (default: the environment)"
    )
    target = group.add_mutually_exclusive_group()
    target.add_argument(
        "--sqlite",
        metavar="PATH",
        help="a SQLite database file",
    )
    target.add_argument(
        "--dsn",
        metavar="URL",
        help=(
            "a PostgreSQL database: postgresql://user[:password]@host[:port]/"
            "database[?sslmode=...&application_name=...&connect_timeout=...] "
            "or a libpq 'host=... dbname=... user=...' string; prefer "
            "SYNTHORG_PG_PASSWORD_FILE over a password on the command line"
        ),
    )


def resolve_config(args: argparse.Namespace) -> PersistenceConfig:
    """The config of ``--sqlite``/``--dsn``/the environment (exit 2 when none)."""
    try:
        if args.sqlite is not None:
            return PersistenceConfig(
                backend="sqlite", sqlite=SQLiteConfig(path=args.sqlite)
            )
        if args.dsn is not None:
            # One connection is all a verb needs.
            return PersistenceConfig(
                backend="postgres",
                postgres=PostgresConfig.from_dsn(
                    args.dsn,
                    password=_env_password(os.environ),
                    pool_min_size=1,
                    pool_max_size=2,
                ),
            )
        if not any(os.environ.get(name) for name in ENV_VARIABLES):
            raise CliError(
                "no database: pass --sqlite PATH or --dsn URL, or set "
                "SYNTHORG_SQLITE_PATH or SYNTHORG_DB_DSN (see --help)",
                EXIT_USAGE,
            )
        return PersistenceConfig.from_env()
    except ValueError as exc:
        # pydantic's errors hide their input; ours never echo the password.
        raise CliError(
            f"invalid database settings: {_one_line(exc)}", EXIT_USAGE
        ) from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def describe(config: PersistenceConfig) -> str:
    """Where the database is, without the password."""
    runtime = find_dialect_runtime(config.backend)
    if runtime is None:
        return f"{config.backend} {config.sqlite.path}"
    return runtime.describe(config)


def run(coro: Callable[[], Awaitable[T]]) -> T:
    """Run one verb's coroutine on a fresh event loop."""

    async def main() -> T:
        return await coro()

    return asyncio.run(main())


@asynccontextmanager
async def connected(
    config: PersistenceConfig, *, create: bool = False
) -> AsyncIterator[PersistenceBackend]:
    """A connected backend (its repositories may be gated: not migrated yet).

    Without ``create`` a SQLite file that does not exist is an error
    rather than a new empty database.
    """
    from synthorg.persistence.factory import create_backend

    runtime = find_dialect_runtime(config.backend)
    missing = None if create or runtime is None else runtime.missing(config)
    if missing is not None:
        raise CliError(missing)
    backend = create_backend(config)
    await backend.connect()
    try:
        yield backend
    finally:
        await backend.disconnect()


async def applied_records(backend: PersistenceBackend) -> dict[str, tuple[str, str]]:
    """Revision -> (checksum, applied_at) as recorded (empty: never migrated)."""
    return await dialect_runtime(backend.kind).applied_records(backend)


def load_codegen() -> ModuleType:
    """``codegen.cli``, from the installed path or a checkout above the cwd.

    Raises:
        CliError: Not in a source checkout, or the dev extra is missing.
    """
    try:
        import codegen.cli
    except ModuleNotFoundError as exc:
        if exc.name not in ("codegen", "codegen.cli"):
            raise _dev_extra_missing(exc) from None
        root = _checkout()
        if root is None:
            raise CliError(
                "the schema verbs need a source checkout (a folder with "
                "codegen/ and schema/): run them from inside the repository, "
                "with the dev extra installed (pip install -e '.[dev]')"
            ) from None
        sys.path.insert(0, str(root))
        try:
            import codegen.cli
        except ModuleNotFoundError as again:
            raise _dev_extra_missing(again) from None
    return codegen.cli


def _dev_extra_missing(exc: ModuleNotFoundError) -> CliError:
    return CliError(
        f"the schema verbs need the dev extra ({exc.name} is not installed): "
        "pip install -e '.[dev]'"
    )


def _checkout() -> Path | None:
    """The nearest folder at or above the cwd holding codegen/cli.py and schema/."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "codegen" / "cli.py").is_file() and (folder / "schema").is_dir():
            return folder
    return None


def add_schema_arguments(parser: argparse.ArgumentParser) -> None:
    """``--schema DIR`` and ``--out DIR`` (defaults: the checkout's)."""
    parser.add_argument(
        "--schema",
        type=Path,
        metavar="DIR",
        help="the schema folder (default: schema/ of the checkout)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="the generated folder (default: generated/ of the checkout)",
    )
