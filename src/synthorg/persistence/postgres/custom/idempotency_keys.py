"""PostgreSQL body of the idempotency keys repository's custom method."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg

from synthorg.persistence.errors import QueryError
from synthorg.persistence.idempotency import (
    CLAIM_SQL,
    IdempotencyClaim,
    check_claim,
    claimed,
    new_claim,
    refused,
)
from synthorg.persistence.postgres.driver import map_postgres_error

if TYPE_CHECKING:
    from synthorg.persistence.generated.postgres.idempotency_keys import (
        PostgresIdempotencyRecordRepository,
    )
    from synthorg.persistence.types import NotBlankStr

_CLAIM = CLAIM_SQL.replace("?", "%s")


async def claim(
    repo: PostgresIdempotencyRecordRepository,
    scope: NotBlankStr,
    key: NotBlankStr,
    ttl_seconds: int,
) -> IdempotencyClaim:
    """The upsert, then (when it left the row alone) a read, in one transaction.

    ``INSERT ... ON CONFLICT DO UPDATE`` locks the conflicting row even when
    its WHERE refuses the update, so the read that follows (a new READ
    COMMITTED snapshot) sees exactly the row that refused, and nobody can
    complete, fail or delete it before this transaction ends. Concurrent
    claimers of one new key queue on the unique index: one inserts, the rest
    then see its committed row.
    """
    scope, key = check_claim(scope, key, ttl_seconds)
    token, now, expires_at = new_claim(ttl_seconds)
    params = (scope, key, token, now, now, expires_at)
    try:
        async with repo.executor.transaction():
            row = await repo.executor.fetch_one(_CLAIM, params)
            if row is not None:
                attempts, error = row
                return claimed(token, attempts, error, expires_at)
            record = await repo.get((scope, key))
    except psycopg.Error as exc:
        raise map_postgres_error(exc, "idempotency_keys.claim") from exc
    if record is None:  # the conflicting row is locked by this transaction
        raise QueryError("idempotency_keys.claim: the conflicting row vanished")
    return refused(record)
