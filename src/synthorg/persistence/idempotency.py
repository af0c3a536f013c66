"""The result of ``idempotency_keys.claim`` and the pieces both dialects share.

The outcome enum is declared in ``schema/idempotency_keys.yaml``
(:class:`~synthorg.persistence.generated.enums.IdempotencyClaimOutcome`);
this module adds the value returned to the caller, which is not a row and so
is not generated.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    model_validator,
)

from synthorg.persistence._codec import arg_int, arg_str, utc_now
from synthorg.persistence.generated.enums import (
    IdempotencyClaimOutcome,
    IdempotencyStatus,
)

if TYPE_CHECKING:
    from synthorg.persistence.generated.idempotency_keys import IdempotencyRecord

__all__ = ["IdempotencyClaim"]

_CLAIMED = frozenset({IdempotencyClaimOutcome.FRESH, IdempotencyClaimOutcome.FAILED})


class IdempotencyClaim(BaseModel):
    """What ``claim(scope, key, ttl_seconds)`` decided.

    ``claim_token`` is set exactly when the caller now holds the lease
    (``fresh``, or ``failed``: a retry after a failed attempt, whose error is
    in ``error``); pass it to ``complete`` / ``fail``. ``response`` is the
    stored response of a ``completed`` key. ``expires_at`` is the end of the
    caller's lease, or of the existing claim it ran into (a Retry-After hint).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: IdempotencyClaimOutcome
    claim_token: str | None = Field(default=None)
    attempts: int = Field(ge=1, description="Leases issued in the current window.")
    response: dict[str, JsonValue] | None = Field(default=None)
    error: str | None = Field(default=None)
    expires_at: AwareDatetime

    @property
    def claimed(self) -> bool:
        """True when the caller holds the lease and must do the work."""
        return self.claim_token is not None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.claim_token is not None) != (self.outcome in _CLAIMED):
            raise ValueError("claim_token is set exactly for fresh and failed claims")
        if (
            self.response is not None
            and self.outcome is not IdempotencyClaimOutcome.COMPLETED
        ):
            raise ValueError("only a completed claim carries a response")
        return self


_TTL_MAX = 100 * 365 * 86400  # a century: expires_at stays far inside year 9999


def check_claim(scope: object, key: object, ttl_seconds: object) -> tuple[str, str]:
    """Refuse claim arguments the stored row could not hold, before any SQL.

    ``scope`` and ``key`` are NotBlankStr fields (no blank, NUL or lone
    surrogate); ``ttl_seconds`` is an int from 1 to a century. Raises
    :class:`~synthorg.persistence.errors.InvalidValueError` naming the
    argument.
    """
    arg_int(ttl_seconds, "idempotency_keys.ttl_seconds", low=1, high=_TTL_MAX)
    return (
        arg_str(scope, "idempotency_keys.scope"),
        arg_str(key, "idempotency_keys.key"),
    )


def new_claim(ttl_seconds: int) -> tuple[str, datetime, datetime]:
    """``(claim_token, now, expires_at)`` of a new lease; ttl_seconds >= 1."""
    ttl = arg_int(ttl_seconds, "idempotency_keys.ttl_seconds", low=1, high=_TTL_MAX)
    now = utc_now()
    return uuid.uuid4().hex, now, now + timedelta(seconds=ttl)


def claimed(
    token: str, attempts: int, error: str | None, expires_at: datetime
) -> IdempotencyClaim:
    """The caller won the lease: fresh, or failed when it retries a failure."""
    retry = attempts > 1
    return IdempotencyClaim(
        outcome=IdempotencyClaimOutcome.FAILED
        if retry
        else IdempotencyClaimOutcome.FRESH,
        claim_token=token,
        attempts=attempts,
        error=error if retry else None,
        expires_at=expires_at,
    )


def refused(record: IdempotencyRecord) -> IdempotencyClaim:
    """The live row the claim left alone: in flight elsewhere, or completed."""
    if record.status is IdempotencyStatus.COMPLETED:
        return IdempotencyClaim(
            outcome=IdempotencyClaimOutcome.COMPLETED,
            attempts=record.attempts,
            response=record.response,
            error=record.error,
            expires_at=record.expires_at,
        )
    return IdempotencyClaim(
        outcome=IdempotencyClaimOutcome.IN_FLIGHT,
        attempts=record.attempts,
        expires_at=record.expires_at,
    )


# The one upsert that takes a key: insert it, or re-claim an expired or failed
# row. The conflict branch reads the old row (attempts, error), so the outcome
# is decided by the write itself; a row comes back only when the caller won.
# "?" placeholders: scope, key, claim_token, created_at, claimed_at, expires_at.
_EXPIRED = '"idempotency_keys"."expires_at" <= excluded."claimed_at"'
CLAIM_SQL = (
    'INSERT INTO "idempotency_keys" ("scope", "key", "status", "claim_token", '
    '"attempts", "response", "error", "created_at", "claimed_at", "expires_at", '
    '"completed_at") '
    "VALUES (?, ?, 'in_flight', ?, 1, NULL, NULL, ?, ?, ?, NULL) "
    'ON CONFLICT ("scope", "key") DO UPDATE SET '
    "\"status\" = 'in_flight', "
    '"claim_token" = excluded."claim_token", '
    '"attempts" = CASE WHEN <expired> THEN 1 '
    'ELSE "idempotency_keys"."attempts" + 1 END, '
    '"response" = NULL, '
    '"error" = CASE WHEN <expired> THEN NULL ELSE "idempotency_keys"."error" END, '
    '"created_at" = CASE WHEN <expired> THEN excluded."created_at" '
    'ELSE "idempotency_keys"."created_at" END, '
    '"claimed_at" = excluded."claimed_at", '
    '"expires_at" = excluded."expires_at", '
    '"completed_at" = NULL '
    'WHERE <expired> OR "idempotency_keys"."status" = \'failed\' '
    'RETURNING "attempts", "error"'
).replace("<expired>", _EXPIRED)
