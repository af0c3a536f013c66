"""Behaviour of the users and api_keys repositories on both backends.

users: username lookup and uniqueness, ``count_by_role``, the system user
left out of every list, and keyset paging with ``list_after_id``.
api_keys: hash lookup and uniqueness, the ``user_id`` / ``revoked_only``
filters, and the foreign key to users (refused orphans, ON DELETE CASCADE).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from synthorg.persistence import (
    ApiKey,
    ApiKeyFilterSpec,
    ConstraintViolationError,
    HumanRole,
    PersistenceBackend,
    QueryError,
    User,
    UserFilterSpec,
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


def api_key(
    key_id: str, user_id: str, *, revoked: bool = False, **extra: Any
) -> ApiKey:
    values: dict[str, Any] = {
        "key_hash": f"hash-{key_id}",
        "name": f"key {key_id}",
        "role": HumanRole.MANAGER,
        "created_at": T0,
        "expires_at": T0 + timedelta(days=30),
    }
    values.update(extra)
    return ApiKey(id=key_id, user_id=user_id, revoked=revoked, **values)


# ---------------------------------------------------------------------------
# users
# ---------------------------------------------------------------------------


async def test_get_by_username_hit_and_miss(backend: PersistenceBackend) -> None:
    alice = user("u1", username="alice", org_roles=("eng",))
    await backend.users.save(alice)
    await backend.users.save(user("u2", username="bob"))
    assert await backend.users.get_by_username("alice") == alice
    assert await backend.users.get_by_username("Alice") is None
    assert await backend.users.get_by_username("carol") is None


async def test_duplicate_username_on_another_id_is_refused(
    backend: PersistenceBackend,
) -> None:
    first = user("u1", username="alice", role=HumanRole.CEO)
    await backend.users.save(first)
    with pytest.raises(ConstraintViolationError) as info:
        await backend.users.save(user("u2", username="alice"))
    # Named the same on both backends (the reference's constraint attribute).
    assert info.value.constraint == "ux_users_username"
    assert info.value.is_retryable is False
    assert "ux_users_username" in str(info.value)
    assert await backend.users.get("u1") == first
    assert await backend.users.get("u2") is None
    assert await backend.users.get_by_username("alice") == first


async def test_save_same_id_may_keep_its_username(backend: PersistenceBackend) -> None:
    """Upserting a user onto itself is not a username clash."""
    await backend.users.save(user("u1", username="alice"))
    updated = user("u1", username="alice", role=HumanRole.MANAGER)
    await backend.users.save(updated)
    assert await backend.users.get_by_username("alice") == updated


async def test_count_by_role(backend: PersistenceBackend) -> None:
    await backend.users.save(user("u1", HumanRole.CEO))
    await backend.users.save(user("u2", HumanRole.MANAGER))
    await backend.users.save(user("u3", HumanRole.MANAGER))
    await backend.users.save(user("sys", HumanRole.SYSTEM))
    assert await backend.users.count_by_role(HumanRole.CEO) == 1
    assert await backend.users.count_by_role(HumanRole.MANAGER) == 2
    assert await backend.users.count_by_role(HumanRole.OBSERVER) == 0
    assert await backend.users.count_by_role(HumanRole.SYSTEM) == 1


async def test_the_system_user_cannot_be_deleted(
    backend: PersistenceBackend,
) -> None:
    system = user("sys", HumanRole.SYSTEM)
    human = user("u1", HumanRole.CEO)
    await backend.users.save(system)
    await backend.users.save(human)
    with pytest.raises(ConstraintViolationError) as refused:
        await backend.users.delete("sys")
    assert refused.value.constraint == "users.system_user"
    assert refused.value.is_retryable is False
    assert "users.delete" in str(refused.value)
    assert await backend.users.get("sys") == system  # nothing deleted
    assert await backend.users.count_by_role(HumanRole.SYSTEM) == 1
    # Other users are deleted as before; a missing one is still just False.
    assert await backend.users.delete("u1") is True
    assert await backend.users.delete("u1") is False
    assert await backend.users.delete("nobody") is False
    # Demoted first, the same row may go: protection follows the role.
    await backend.users.save(system.model_copy(update={"role": HumanRole.OBSERVER}))
    assert await backend.users.delete("sys") is True


async def test_system_user_is_left_out_of_every_list(
    backend: PersistenceBackend,
) -> None:
    humans = [user("u1", HumanRole.CEO), user("u3", HumanRole.OBSERVER)]
    system = user("u2", HumanRole.SYSTEM)
    for u in [humans[0], system, humans[1]]:
        await backend.users.save(u)
    users = backend.users
    assert await users.count_by_role(HumanRole.SYSTEM) == 1
    assert await users.get("u2") == system  # a point read still finds it
    assert await users.list_items() == tuple(humans)
    assert await users.query(UserFilterSpec()) == tuple(humans)
    assert await users.query(UserFilterSpec(role=HumanRole.SYSTEM)) == ()
    assert await users.query(UserFilterSpec(role=HumanRole.CEO)) == (humans[0],)
    assert await users.count(UserFilterSpec()) == 2
    assert await users.count(UserFilterSpec(role=HumanRole.SYSTEM)) == 0
    assert await users.list_after_id(None, 10) == tuple(humans)
    assert await users.list_after_id("u1", 10) == (humans[1],)


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


# ---------------------------------------------------------------------------
# api_keys
# ---------------------------------------------------------------------------


async def _seed_keys(backend: PersistenceBackend) -> dict[str, ApiKey]:
    await backend.users.save(user("alice"))
    await backend.users.save(user("bob"))
    keys = {
        "k1": api_key("k1", "alice"),
        "k2": api_key("k2", "alice", revoked=True),
        "k3": api_key("k3", "bob", revoked=True, expires_at=None),
        "k4": api_key("k4", "bob"),
        "k5": api_key("k5", "alice", revoked=True),
    }
    for key in keys.values():
        await backend.api_keys.save(key)
    return keys


async def test_get_by_hash_hit_and_miss(backend: PersistenceBackend) -> None:
    keys = await _seed_keys(backend)
    assert await backend.api_keys.get_by_hash("hash-k3") == keys["k3"]
    assert await backend.api_keys.get_by_hash("hash-nope") is None


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (ApiKeyFilterSpec(), ["k1", "k2", "k3", "k4", "k5"]),
        (ApiKeyFilterSpec(revoked_only=False), ["k1", "k2", "k3", "k4", "k5"]),
        (ApiKeyFilterSpec(user_id="alice"), ["k1", "k2", "k5"]),
        (ApiKeyFilterSpec(user_id="bob", revoked_only=False), ["k3", "k4"]),
        (ApiKeyFilterSpec(revoked_only=True), ["k2", "k3", "k5"]),
        (ApiKeyFilterSpec(user_id="alice", revoked_only=True), ["k2", "k5"]),
        (ApiKeyFilterSpec(user_id="bob", revoked_only=True), ["k3"]),
        (ApiKeyFilterSpec(user_id="nobody"), []),
    ],
    ids=[
        "none",
        "revoked_only_false",
        "user",
        "user_revoked_only_false",
        "revoked_only",
        "user_and_revoked_only",
        "other_user_and_revoked_only",
        "unknown_user",
    ],
)
async def test_api_key_query_and_count(
    backend: PersistenceBackend, spec: ApiKeyFilterSpec, expected: list[str]
) -> None:
    keys = await _seed_keys(backend)
    rows = await backend.api_keys.query(spec)
    assert list(rows) == [keys[k] for k in expected]
    assert await backend.api_keys.count(spec) == len(expected)


async def test_saving_a_key_for_a_missing_user_is_a_constraint_violation(
    backend: PersistenceBackend,
) -> None:
    with pytest.raises(ConstraintViolationError) as info:
        await backend.api_keys.save(api_key("k1", "ghost"))
    if backend.kind == "postgres":
        assert "fk_api_keys_user_id" in info.value.constraint
    else:
        assert info.value.constraint == "foreign_key"
    assert await backend.api_keys.get("k1") is None
    assert await backend.api_keys.count(ApiKeyFilterSpec()) == 0


async def test_deleting_a_user_deletes_its_keys(backend: PersistenceBackend) -> None:
    keys = await _seed_keys(backend)
    assert await backend.users.delete("alice") is True
    assert await backend.api_keys.get("k1") is None
    assert await backend.api_keys.get_by_hash("hash-k2") is None
    remaining = await backend.api_keys.query(ApiKeyFilterSpec())
    assert list(remaining) == [keys["k3"], keys["k4"]]
    assert await backend.api_keys.count(ApiKeyFilterSpec(user_id="alice")) == 0


async def test_duplicate_key_hash_is_refused(backend: PersistenceBackend) -> None:
    await backend.users.save(user("alice"))
    first = api_key("k1", "alice", key_hash="same")
    await backend.api_keys.save(first)
    with pytest.raises(ConstraintViolationError) as info:
        await backend.api_keys.save(api_key("k2", "alice", key_hash="same"))
    assert info.value.constraint == "ux_api_keys_key_hash"
    assert await backend.api_keys.get("k2") is None
    assert await backend.api_keys.get_by_hash("same") == first


async def test_moving_a_key_to_a_missing_user_is_refused_and_keeps_it(
    backend: PersistenceBackend,
) -> None:
    """The upsert's UPDATE branch is checked by the foreign key too."""
    await backend.users.save(user("alice"))
    original = api_key("k1", "alice")
    await backend.api_keys.save(original)
    with pytest.raises(ConstraintViolationError):
        await backend.api_keys.save(api_key("k1", "ghost"))
    assert await backend.api_keys.get("k1") == original
