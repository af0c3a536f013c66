"""Shared constrained types and the base of every stored model.

Kept in a leaf module with no imports from the rest of the package so that
config, errors, generated models and protocols can all depend on it without
creating import cycles.

The types encode the value domain both backends store exactly (see the
"Value domains" section of ``docs/reliability.md``): text without NUL or
lone surrogates, aware datetimes whose UTC instant lies in years 1-9999,
JSON whose numbers and strings survive PostgreSQL ``jsonb``. A model
refuses what a backend could not round-trip, so reads enforce the same
rules as writes.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Self

from annotated_types import Ge, Le
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StringConstraints,
    model_validator,
)

__all__ = [
    "NotBlankStr",
    "StoredModel",
    "Text",
    "Timestamp",
]

JSON_FLOAT_LIMIT: Final = 1e16
"""JSON floats must be smaller in magnitude: PostgreSQL ``jsonb`` keeps
numbers as ``numeric`` and prints larger ones without a fraction or
exponent, so they would read back as integers of a different value."""


def _reject_whitespace_only(value: str) -> str:
    """Refuse a string that consists only of whitespace, or holds NUL.

    ``min_length=1`` already refuses ``""`` (and, like every constrained
    string, a lone surrogate); this catches ``"   "``, which would otherwise
    pass and become a useless key, name or path, and ``"\\x00"``, which
    PostgreSQL cannot store. The value is returned unchanged (not stripped):
    callers get exactly what they passed, so identifiers round-trip byte for
    byte.
    """
    if not value.strip():
        msg = "must not be blank or whitespace-only"
        raise ValueError(msg)
    if "\x00" in value:
        msg = "must not contain NUL (\\x00)"
        raise ValueError(msg)
    return value


NotBlankStr = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=1),
    AfterValidator(_reject_whitespace_only),
]
"""A ``str`` that is neither empty nor whitespace-only (kept unstripped),
without NUL or lone surrogates."""

Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]
"""Free text (may be empty) without NUL or lone surrogates.

The pattern runs in pydantic-core; converting the value for it refuses lone
surrogates (which no UTF-8 database can store)."""


EARLIEST: Final = datetime(1, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)

Timestamp = Annotated[AwareDatetime, Ge(EARLIEST), Le(LATEST)]
"""An aware datetime whose UTC instant lies in years 1-9999 (any offset).

``datetime(1, 1, 1, tzinfo=+05:30)`` is a valid Python value whose instant
is in year 0: neither backend can store and read it back. pydantic-core
compares aware datetimes as instants, so the bounds cost nothing."""


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text on both backends, or None.

    NUL (PostgreSQL text cannot hold it) and lone surrogates (not UTF-8).
    The one check behind JSON strings and keys and raw text arguments.
    """
    if "\x00" in value:
        return "text must not contain NUL (\\x00)"
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return "text must not contain a lone surrogate"
    return None


def _json_problem(value: Any) -> str | None:
    """What makes ``value`` unstorable as JSON on both backends, or None.

    Returns ``"-0.0"`` (not a problem, normalised by the caller) when the
    only finding is a negative zero.
    """
    stack = [value]
    negative_zero = False
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            problem = text_problem(item)
            if problem is not None:
                return f"a string: {problem}"
        elif kind is float:
            if not math.isfinite(item):
                return "a number is not finite"
            if abs(item) >= JSON_FLOAT_LIMIT:
                return (
                    f"the float {item!r} is 1e16 or more in magnitude: "
                    "store it as a string or an int"
                )
            if item == 0.0 and math.copysign(1.0, item) < 0:
                negative_zero = True
        elif kind is dict:
            for key, inner in item.items():
                problem = text_problem(key)
                if problem is not None:
                    return f"a key: {problem}"
                stack.append(inner)
        elif kind is list or kind is tuple:
            stack.extend(item)
    return "-0.0" if negative_zero else None


def _without_negative_zero(value: Any) -> Any:
    """A copy of ``value`` with every ``-0.0`` replaced by ``0.0``."""
    kind = type(value)
    if kind is float:
        return value + 0.0
    if kind is dict:
        return {k: _without_negative_zero(v) for k, v in value.items()}
    if kind is list:
        return [_without_negative_zero(v) for v in value]
    if kind is tuple:
        return tuple(_without_negative_zero(v) for v in value)
    return value


def check_json(value: Any) -> Any:
    """Refuse JSON that does not round-trip exactly on both backends.

    NUL and lone surrogates in strings or keys, non-finite numbers and
    floats of 1e16 or more in magnitude raise ``ValueError``; ``-0.0``
    becomes ``0.0`` (PostgreSQL ``jsonb`` has no negative zero).
    """
    problem = _json_problem(value)
    if problem is None:
        return value
    if problem == "-0.0":
        return _without_negative_zero(value)
    raise ValueError(problem)


VALIDATED: Final[dict[str, Any]] = {}
"""The stamp of a validated :class:`StoredModel` (its ``__pydantic_extra__``).

``extra="forbid"`` leaves ``__pydantic_extra__`` unused (None). Validation
sets it to this one shared object; ``model_construct``, ``model_copy``,
``copy`` and unpickling leave None or a copy, so an identity test tells a
validated instance from one whose fields nobody checked. Equality treats
``{}`` and None alike, and with ``extra="forbid"`` nothing serialises it.
"""


class StoredModel(BaseModel):
    """Base of every generated model: validated instances carry a stamp.

    Repositories write a stamped instance as is (no second validation on
    the hot path) and re-validate any other one, so an entity built with
    ``model_construct`` or changed by ``model_copy(update=...)`` is checked
    before anything is written.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, defer_build=True
    )

    @model_validator(mode="after")
    def _stamp_validated(self) -> Self:
        object.__setattr__(self, "__pydantic_extra__", VALIDATED)
        return self
