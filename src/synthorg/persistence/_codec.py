"""Value codecs shared by the generated repositories of both dialects.

Kept tiny and dependency-free because they run once per column per row on
the hot path.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

_DUMPS = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode
json_loads = json.loads


def json_dumps(value: Any) -> str:
    """Compact JSON text; NaN/Infinity are refused so every dialect can read it."""
    return _DUMPS(value)


def utc_now() -> datetime:
    """The current instant as an aware UTC datetime (model default factory)."""
    return datetime.now(UTC)


def dt_to_text(value: datetime) -> str:
    """Fixed-width ISO-8601 UTC text (32 characters), so text order is time order.

    Naive datetimes are refused at the model boundary (``AwareDatetime``);
    the check here guards the filter and method parameters too.
    ``isoformat`` zero-pads the year (``0999-...``), which ``strftime("%Y")``
    does not, and is about twice as fast.
    """
    if value.tzinfo is not UTC:
        if value.utcoffset() is None:
            raise ValueError("naive datetime: a timezone-aware datetime is required")
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")
