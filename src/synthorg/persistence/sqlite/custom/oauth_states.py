"""SQLite bodies of the OAuth states repository's custom methods."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from synthorg.persistence._codec import dt_to_text, utc_now
from synthorg.persistence._retention import retention_cutoff
from synthorg.persistence.sqlite.driver import map_sqlite_error

if TYPE_CHECKING:
    from synthorg.persistence.generated.sqlite.oauth_states import (
        SQLiteOAuthStateRepository,
    )

# Datetimes are fixed-width UTC text, so text order is time order.
_CLEANUP = (
    'DELETE FROM "oauth_states" WHERE "expires_at" < ?'
    ' OR ("consumed_at" IS NOT NULL AND "consumed_at" < ?)'
    ' OR ("expires_at" IS NULL AND "consumed_at" IS NULL AND "created_at" < ?)'
    " RETURNING 1"
)


async def cleanup_expired(
    repo: SQLiteOAuthStateRepository, retention_seconds: int
) -> int:
    """Delete expired states and consumed or abandoned ones past retention."""
    cutoff = dt_to_text(
        retention_cutoff(retention_seconds, "oauth_states.retention_seconds")
    )
    try:
        rows = await repo.executor.write(
            _CLEANUP, (dt_to_text(utc_now()), cutoff, cutoff)
        )
    except (sqlite3.Error, ValueError) as exc:
        raise map_sqlite_error(exc, "oauth_states.cleanup_expired") from exc
    return sum(1 for _ in rows)
