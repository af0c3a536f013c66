"""Shared constrained scalar types for the persistence layer.

Kept in a leaf module with no imports from the rest of the package so that
config, errors, generated models and protocols can all depend on it without
creating import cycles.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, StringConstraints

__all__ = ["NotBlankStr"]


def _reject_whitespace_only(value: str) -> str:
    """Refuse a string that consists only of whitespace.

    ``min_length=1`` already refuses ``""``; this catches ``"   "``, which
    would otherwise pass and become a useless key, name or path. The value
    is returned unchanged (not stripped): callers get exactly what they
    passed, so identifiers round-trip byte for byte.
    """
    if not value.strip():
        msg = "must not be blank or whitespace-only"
        raise ValueError(msg)
    return value


NotBlankStr = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=1),
    AfterValidator(_reject_whitespace_only),
]
"""A ``str`` that is neither empty nor whitespace-only (kept unstripped)."""
