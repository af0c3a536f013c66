"""``keyset`` methods: pages that continue after the last row seen.

Every test runs on both backends (the ``backend`` fixture).
"""

from __future__ import annotations

from typing import Any

import pytest

from synthorg.persistence import (
    PersistenceBackend,
    ProviderAuditEvent,
    ProviderAuditEventFilterSpec,
    QueryError,
)
from tests.repositories._rows import (
    event,
)


async def test_list_before_pages_concatenate_to_the_full_listing(
    backend: PersistenceBackend,
) -> None:
    log = backend.provider_audit_events
    events = [event(n, "openai" if n % 2 else "anthropic") for n in range(23)]
    for e in reversed(events):
        await log.append(e)
    full = await log.query(ProviderAuditEventFilterSpec(), limit=1000)
    assert [e.id for e in full] == [e.id for e in reversed(events)]  # id desc
    for limit in (1, 4, 7, 23, 50):
        pages: list[ProviderAuditEvent] = []
        cursor: str | None = None
        while True:
            window = await log.list_before(cursor, limit)
            assert len(window) <= limit
            if not window:
                break
            pages.extend(window)
            cursor = window[-1].id
        assert pages == list(full), limit
    assert await log.list_before("evt-0000", 10) == ()
    assert [e.id for e in await log.list_before("evt-0003", 10)] == [
        "evt-0002",
        "evt-0001",
        "evt-0000",
    ]
    # A cursor need not be a stored id: ids before it, newest first.
    assert [e.id for e in await log.list_before("evt-0001x", 2)] == [
        "evt-0001",
        "evt-0000",
    ]
    by_provider = await log.query(ProviderAuditEventFilterSpec(provider_name="openai"))
    assert [e.id for e in by_provider] == [f"evt-{n:04d}" for n in range(21, 0, -2)]


@pytest.mark.parametrize("limit", [0, -1, True])
async def test_list_before_refuses_a_bad_limit(
    backend: PersistenceBackend, limit: Any
) -> None:
    with pytest.raises(QueryError):
        await backend.provider_audit_events.list_before(None, limit)
