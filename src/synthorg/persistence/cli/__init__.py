"""The ``synthorg-persistence`` command-line tool.

:func:`main` builds one argparse subparser per verb: each verb is a module
``cli/<verb>.py`` (hyphens become underscores) listed in :data:`VERBS` and
exposing ``register(subparsers)``, which adds its parser (with its --help
text) and sets ``func`` (``args -> exit code``). Exit codes: 0 ok; 1 not up
to date / check failed / drift found; 2 usage error; 3 cannot connect or a
runtime error. Errors go to stderr, one line.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

VERBS: tuple[str, ...] = ("schema_json", "renumber")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; returns its exit code."""
    parser = argparse.ArgumentParser(
        prog="synthorg-persistence",
        description="Operate and develop a synthorg.persistence database.",
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in VERBS:
        module = importlib.import_module(f"{__name__}.{verb}")
        module.register(subparsers)
    args = parser.parse_args(None if argv is None else list(argv))
    code: int = args.func(args)
    return code
