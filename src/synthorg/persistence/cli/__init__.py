"""The ``synthorg-persistence`` command line: one module per verb.

Each module named in :data:`VERBS` (``cli/<verb>.py``, hyphens as
underscores) exposes ``register(subparsers)``, which adds its parser with
its ``--help`` text and sets ``func`` (``func(args) -> int``, the exit
code). Exit codes: 0 ok; 1 not up to date / check failed; 2 usage error;
3 cannot connect or runtime error.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

VERBS: tuple[str, ...] = ("diagram",)
"""The verb modules, in the order ``--help`` lists them."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; returns its exit code."""
    parser = argparse.ArgumentParser(
        prog="synthorg-persistence",
        description="Operate and develop synthorg.persistence databases.",
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name in VERBS:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(subparsers)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code
