"""The escalation queue behind ``backend.build_escalations(notify_channel)``.

Escalations are rows of the generated ``escalations`` repository. On
PostgreSQL the backend passes a notifier: ``enqueue`` inserts the row and
publishes ``pg_notify(channel, id)`` in the same transaction, so listeners
hear about it exactly when it is committed (and never about a rolled-back
one). SQLite has no cross-process NOTIFY: the channel is ignored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from synthorg.persistence.generated.escalations import (
    Escalation,
    EscalationFilterSpec,
    EscalationRepository,
)
from synthorg.persistence.support import DEFAULT_PAGE_SIZE
from synthorg.persistence.types import NotBlankStr

Notifier = Callable[[str, str], Awaitable[None]]
"""``(channel, payload)``: publish inside the current transaction."""

Transaction = Callable[[], AbstractAsyncContextManager[object]]


class EscalationQueue:
    """Enqueue, list and handle escalations; optionally NOTIFY on enqueue."""

    def __init__(
        self,
        repository: EscalationRepository,
        transaction: Transaction,
        notify_channel: str | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._repo = repository
        self._transaction = transaction
        self._channel = notify_channel if notifier is not None else None
        self._notifier = notifier

    @property
    def notify_channel(self) -> str | None:
        """The channel enqueues are published on (None: not published)."""
        return self._channel

    async def enqueue(self, escalation: Escalation) -> None:
        """Store a new escalation (and publish its id when a channel is set)."""
        if self._channel is None or self._notifier is None:
            await self._repo.save(escalation)
            return
        async with self._transaction():
            await self._repo.save(escalation)
            await self._notifier(self._channel, escalation.id)

    async def get(self, escalation_id: NotBlankStr) -> Escalation | None:
        return await self._repo.get(escalation_id)

    async def list_pending(
        self, limit: int = DEFAULT_PAGE_SIZE, offset: int = 0
    ) -> tuple[Escalation, ...]:
        """Pending escalations, oldest first."""
        return await self._repo.list_pending(limit, offset)

    async def query(
        self, filter_spec: EscalationFilterSpec, limit: int = DEFAULT_PAGE_SIZE
    ) -> tuple[Escalation, ...]:
        return await self._repo.query(filter_spec, limit)

    async def acknowledge(
        self, escalation_id: NotBlankStr, acknowledged_by: NotBlankStr
    ) -> bool:
        """Acknowledge a pending escalation; False when it was not pending."""
        return await self._repo.acknowledge(escalation_id, acknowledged_by)

    async def resolve(self, escalation_id: NotBlankStr, resolution: str) -> bool:
        """Resolve an escalation; False when missing or already resolved."""
        return await self._repo.resolve(escalation_id, resolution)
