"""``keyset`` methods: pages that continue after the last row seen.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

from typing import Any

import pytest

from synthorg.persistence import (
    HumanRole,
    PersistenceBackend,
    ProviderAuditEvent,
    ProviderAuditEventFilterSpec,
    QueryError,
    User,
)
from tests.repositories._rows import (
    event,
    user,
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


async def test_list_after_id_pages_through_all_human_users(
    backend: PersistenceBackend,
) -> None:
    ids = [f"u{i:02d}" for i in range(11)]
    for i, user_id in enumerate(reversed(ids)):
        role = HumanRole.SYSTEM if user_id == "u05" else list(HumanRole)[i % 5]
        await backend.users.save(user(user_id, role))
    pages: list[tuple[User, ...]] = []
    after: str | None = None
    while True:
        page = await backend.users.list_after_id(after, 3)
        if not page:
            break
        assert len(page) <= 3
        pages.append(page)
        after = page[-1].id
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    seen = [u.id for p in pages for u in p]
    assert seen == [i for i in ids if i != "u05"]
    assert seen == [u.id for u in await backend.users.list_items()]


async def test_list_after_id_with_an_id_that_does_not_exist(
    backend: PersistenceBackend,
) -> None:
    for user_id in ["u01", "u03", "u05", "u07"]:
        await backend.users.save(user(user_id))
    # Keyset, not offset: the cursor is a bound, it need not be a stored id.
    assert [u.id for u in await backend.users.list_after_id("u02", 2)] == [
        "u03",
        "u05",
    ]
    assert [u.id for u in await backend.users.list_after_id("u00", 10)] == [
        "u01",
        "u03",
        "u05",
        "u07",
    ]
    assert await backend.users.list_after_id("u07", 10) == ()
    assert await backend.users.list_after_id("zzz", 10) == ()


async def test_list_after_id_is_stable_when_earlier_rows_are_deleted(
    backend: PersistenceBackend,
) -> None:
    for user_id in ["u1", "u2", "u3", "u4"]:
        await backend.users.save(user(user_id))
    first = await backend.users.list_after_id(None, 2)
    assert [u.id for u in first] == ["u1", "u2"]
    assert await backend.users.delete("u1") is True  # would shift an offset page
    second = await backend.users.list_after_id(first[-1].id, 2)
    assert [u.id for u in second] == ["u3", "u4"]


@pytest.mark.parametrize("bad", [0, -3, True, "2"])
async def test_list_after_id_refuses_a_bad_limit(
    backend: PersistenceBackend, bad: Any
) -> None:
    await backend.users.save(user("u1"))
    with pytest.raises(QueryError):
        await backend.users.list_after_id(None, bad)
    with pytest.raises(QueryError):
        await backend.users.list_after_id("u0", bad)
