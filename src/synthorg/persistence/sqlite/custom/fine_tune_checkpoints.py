"""SQLite body of the fine-tune checkpoints repository's custom method."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from synthorg.persistence._codec import arg_str
from synthorg.persistence.sqlite.driver import map_sqlite_error

if TYPE_CHECKING:
    from synthorg.persistence.generated.sqlite.fine_tune_checkpoints import (
        SQLiteFineTuneCheckpointRepository,
    )
    from synthorg.persistence.types import NotBlankStr

_ACTIVATE = (
    'UPDATE "fine_tune_checkpoints" SET "is_active" = TRUE WHERE "id" = ? RETURNING 1'
)


class _Missing(Exception):
    """Rolls the transaction back when the checkpoint does not exist."""


async def set_active(
    repo: SQLiteFineTuneCheckpointRepository, checkpoint_id: NotBlankStr
) -> bool:
    """Clear the active flag, then set it on ``checkpoint_id``, in one transaction.

    Clearing first keeps the partial unique index (one active row) satisfied
    at every step. ``BEGIN IMMEDIATE`` under the backend's write lock
    serializes concurrent callers; ``deactivate_all`` (generated) joins the
    transaction. A missing checkpoint, an error or a cancellation rolls
    everything back.
    """
    checkpoint_id = arg_str(checkpoint_id, "fine_tune_checkpoints.checkpoint_id")
    try:
        async with repo.executor.transaction():
            await repo.deactivate_all()
            rows = await repo.executor.write(_ACTIVATE, (checkpoint_id,))
            if not rows:
                raise _Missing
    except _Missing:
        return False
    except (sqlite3.Error, ValueError) as exc:
        raise map_sqlite_error(exc, "fine_tune_checkpoints.set_active") from exc
    return True
