"""PostgreSQL bodies of the OAuth states repository's custom methods."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg

from synthorg.persistence._codec import utc_now
from synthorg.persistence._retention import retention_cutoff
from synthorg.persistence.postgres.driver import map_postgres_error

if TYPE_CHECKING:
    from synthorg.persistence.generated.postgres.oauth_states import (
        PostgresOAuthStateRepository,
    )

_CLEANUP = (
    'DELETE FROM "oauth_states" WHERE "expires_at" < %s'
    ' OR ("consumed_at" IS NOT NULL AND "consumed_at" < %s)'
    ' OR ("expires_at" IS NULL AND "consumed_at" IS NULL AND "created_at" < %s)'
)


async def cleanup_expired(
    repo: PostgresOAuthStateRepository, retention_seconds: int
) -> int:
    """Delete expired states and consumed or abandoned ones past retention."""
    cutoff = retention_cutoff(retention_seconds, "oauth_states.retention_seconds")
    try:
        return await repo.executor.execute(_CLEANUP, (utc_now(), cutoff, cutoff))
    except psycopg.Error as exc:
        raise map_postgres_error(exc, "oauth_states.cleanup_expired") from exc
