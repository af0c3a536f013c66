"""The decision records repository's custom method, for every dialect."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synthorg.persistence._codec import arg_enum
from synthorg.persistence.generated.enums import DecisionRole
from synthorg.persistence.support import DEFAULT_PAGE_SIZE

if TYPE_CHECKING:
    from synthorg.persistence.generated.decision_records import (
        DecisionRecord,
        DecisionRecordRepository,
    )
    from synthorg.persistence.types import NotBlankStr


async def list_by_agent(
    repo: DecisionRecordRepository,
    agent_id: NotBlankStr,
    role: DecisionRole,
    limit: int = DEFAULT_PAGE_SIZE,
    offset: int = 0,
) -> tuple[DecisionRecord, ...]:
    """Pick the generated per-column list, so each role reads its own index."""
    # A plain string works; an unknown role raises InvalidValueError.
    role = arg_enum(role, DecisionRole, "decision_records.role")
    if role is DecisionRole.EXECUTOR:
        return await repo.list_by_executor(agent_id, limit, offset)
    return await repo.list_by_reviewer(agent_id, limit, offset)
