"""PostgreSQL body of the fine-tune checkpoints repository's custom method."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg

from synthorg.persistence._codec import arg_str
from synthorg.persistence.postgres.driver import map_postgres_error

if TYPE_CHECKING:
    from synthorg.persistence.generated.postgres.fine_tune_checkpoints import (
        PostgresFineTuneCheckpointRepository,
    )
    from synthorg.persistence.types import NotBlankStr

# Serializes set_active callers for the length of their transaction. Without
# it two READ COMMITTED transactions both clear (seeing no committed active
# row) and the second activation then fails on the partial unique index.
_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtext('synthorg.fine_tune_checkpoints.active'))"
)
_ACTIVATE = 'UPDATE "fine_tune_checkpoints" SET "is_active" = TRUE WHERE "id" = %s'


class _Missing(Exception):
    """Rolls the transaction back when the checkpoint does not exist."""


async def set_active(
    repo: PostgresFineTuneCheckpointRepository, checkpoint_id: NotBlankStr
) -> bool:
    """Clear the active flag, then set it on ``checkpoint_id``, in one transaction.

    Clearing first keeps the partial unique index (one active row) satisfied
    at every step; the transaction-scoped advisory lock makes concurrent
    callers take turns, each clearing the previous winner's row (its clear
    runs after the previous commit, so READ COMMITTED sees it).
    ``deactivate_all`` (generated) runs on this transaction's connection. A
    missing checkpoint rolls everything back.
    """
    checkpoint_id = arg_str(checkpoint_id, "fine_tune_checkpoints.checkpoint_id")
    try:
        async with repo.executor.transaction():
            await repo.executor.execute(_LOCK)
            await repo.deactivate_all()
            if await repo.executor.execute(_ACTIVATE, (checkpoint_id,)) != 1:
                raise _Missing
    except _Missing:
        return False
    except psycopg.Error as exc:
        raise map_postgres_error(exc, "fine_tune_checkpoints.set_active") from exc
    return True
