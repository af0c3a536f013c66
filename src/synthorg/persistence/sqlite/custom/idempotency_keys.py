"""SQLite body of the idempotency keys repository's custom method."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from synthorg.persistence._codec import dt_to_text
from synthorg.persistence.errors import QueryError
from synthorg.persistence.idempotency import (
    CLAIM_SQL,
    IdempotencyClaim,
    check_claim,
    claimed,
    new_claim,
    refused,
)
from synthorg.persistence.sqlite.driver import map_sqlite_error

if TYPE_CHECKING:
    from synthorg.persistence.generated.sqlite.idempotency_keys import (
        SQLiteIdempotencyRecordRepository,
    )
    from synthorg.persistence.types import NotBlankStr

_CLAIM = CLAIM_SQL


async def claim(
    repo: SQLiteIdempotencyRecordRepository,
    scope: NotBlankStr,
    key: NotBlankStr,
    ttl_seconds: int,
) -> IdempotencyClaim:
    """The upsert, then (when it left the row alone) a read, in one transaction.

    ``BEGIN IMMEDIATE`` under the write lock means no other writer runs
    between the two statements, so the row read is the row that refused.
    """
    scope, key = check_claim(scope, key, ttl_seconds)
    token, now, expires_at = new_claim(ttl_seconds)
    stamp = dt_to_text(now)
    params = (scope, key, token, stamp, stamp, dt_to_text(expires_at))
    try:
        async with repo.executor.transaction():
            rows = list(await repo.executor.write(_CLAIM, params))
            if rows:
                attempts, error = rows[0]
                return claimed(token, attempts, error, expires_at)
            record = await repo.get((scope, key))
    except (sqlite3.Error, ValueError) as exc:
        raise map_sqlite_error(exc, "idempotency_keys.claim") from exc
    if record is None:  # the conflicting row cannot vanish inside the transaction
        raise QueryError("idempotency_keys.claim: the conflicting row vanished")
    return refused(record)
