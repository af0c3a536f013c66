"""The ``exists`` method kind on both backends (``users.exists_by_username``,
``users.exists_with_role``).

One ``SELECT EXISTS(...)`` answers a plain bool on each backend (SQLite's
0/1 and PostgreSQL's boolean alike), sees rows left out of list methods (the
system user), follows deletes, and refuses an invalid argument before any
SQL, as the other declared reads do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from synthorg.persistence import (
    HumanRole,
    InvalidValueError,
    PersistenceBackend,
    User,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def user(user_id: str, role: HumanRole = HumanRole.OBSERVER, **extra: Any) -> User:
    values: dict[str, Any] = {
        "username": f"name-{user_id}",
        "password_hash": f"hash-{user_id}",
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(extra)
    return User(id=user_id, role=role, **values)


async def test_exists_by_username_hit_and_miss(backend: PersistenceBackend) -> None:
    assert await backend.users.exists_by_username("alice") is False
    await backend.users.save(user("u1", username="alice"))
    await backend.users.save(user("u2", username="bob"))
    found = await backend.users.exists_by_username("alice")
    assert found is True
    assert type(found) is bool  # not SQLite's 1
    assert await backend.users.exists_by_username("Alice") is False
    assert await backend.users.exists_by_username("carol") is False


async def test_exists_follows_a_rename_and_a_delete(
    backend: PersistenceBackend,
) -> None:
    alice = user("u1", username="alice")
    await backend.users.save(alice)
    await backend.users.save(alice.model_copy(update={"username": "alicia"}))
    assert await backend.users.exists_by_username("alice") is False
    assert await backend.users.exists_by_username("alicia") is True
    assert await backend.users.delete("u1") is True
    assert await backend.users.exists_by_username("alicia") is False


async def test_exists_with_role_matches_count(backend: PersistenceBackend) -> None:
    await backend.users.save(user("u1", HumanRole.MANAGER))
    await backend.users.save(user("u2", HumanRole.MANAGER))
    for role in HumanRole:
        count = await backend.users.count_by_role(role)
        assert await backend.users.exists_with_role(role) is (count > 0), role
    assert await backend.users.exists_with_role(HumanRole.MANAGER) is True
    assert await backend.users.exists_with_role(HumanRole.CEO) is False


async def test_exists_sees_rows_lists_leave_out(backend: PersistenceBackend) -> None:
    # The system user is excluded from every list; exists (like count and
    # lookup) still sees it.
    assert await backend.users.exists_with_role(HumanRole.SYSTEM) is False
    await backend.users.save(user("sys", HumanRole.SYSTEM, username="system"))
    assert await backend.users.list_items() == ()
    assert await backend.users.exists_with_role(HumanRole.SYSTEM) is True
    assert await backend.users.exists_by_username("system") is True


@pytest.mark.parametrize("bad", ["", "   ", "a\x00b"])
async def test_exists_refuses_an_invalid_username(
    backend: PersistenceBackend, bad: str
) -> None:
    with pytest.raises(InvalidValueError):
        await backend.users.exists_by_username(bad)


async def test_exists_refuses_a_value_outside_the_enum(
    backend: PersistenceBackend,
) -> None:
    with pytest.raises(InvalidValueError):
        await backend.users.exists_with_role("chief")  # type: ignore[arg-type]
