"""Retention cut-offs for hand-written cleanup bodies of both dialects."""

from __future__ import annotations

from datetime import datetime, timedelta

from synthorg.persistence._codec import utc_now
from synthorg.persistence.errors import InvalidValueError


def retention_cutoff(retention_seconds: object, field: str) -> datetime:
    """``now - retention_seconds``; a bad argument is refused, naming ``field``."""
    if (
        not isinstance(retention_seconds, int)
        or isinstance(retention_seconds, bool)
        or retention_seconds < 0
    ):
        raise InvalidValueError(
            f"{field} must be an int >= 0, got {retention_seconds!r}", field=field
        )
    try:
        return utc_now() - timedelta(seconds=retention_seconds)
    except OverflowError:
        raise InvalidValueError(
            f"{field} is too large: {retention_seconds!r} seconds", field=field
        ) from None
