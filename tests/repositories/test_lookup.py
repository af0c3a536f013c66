"""``lookup`` methods: one row by a key or a unique column, or None.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

from synthorg.persistence import (
    CustomRuleFilterSpec,
    PersistenceBackend,
)
from tests.repositories._rows import (
    T0,
    _seed_keys,
    decision,
    message,
    parked,
    rule,
    secret,
    setting_row,
    user,
)


async def test_get_by_approval_hit_and_miss(backend: PersistenceBackend) -> None:
    first = parked("p1", "a1", "appr-1", T0, task_id="t1")
    await backend.parked_contexts.save(first)
    await backend.parked_contexts.save(parked("p2", "a1", "appr-2", T0))
    assert await backend.parked_contexts.get_by_approval("appr-1") == first
    assert await backend.parked_contexts.get_by_approval("appr-9") is None
    assert await backend.parked_contexts.delete("p1") is True
    assert await backend.parked_contexts.get_by_approval("appr-1") is None


async def test_store_then_retrieve_round_trips_the_bytes(
    backend: PersistenceBackend,
) -> None:
    repo = backend.connection_secrets
    blob = bytes(range(256)) + b"\x00\x00"  # every byte value, NULs included
    assert await repo.retrieve("s1") is None
    await repo.store(secret("s1", blob))
    assert await repo.retrieve("s1") == secret("s1", blob)


async def test_get_by_name_and_listing_by_name(backend: PersistenceBackend) -> None:
    rules = backend.custom_rules
    await rules.save(rule("id-3", "alpha"))
    await rules.save(rule("id-1", "gamma", enabled=False))
    await rules.save(rule("id-2", "beta"))
    assert await rules.get_by_name("gamma") == rule("id-1", "gamma", enabled=False)
    assert await rules.get_by_name("delta") is None
    names = [r.name for r in await rules.list_items()]
    assert names == ["alpha", "beta", "gamma"]  # name order, not id order
    enabled = await rules.query(CustomRuleFilterSpec(enabled_only=True))
    assert [r.name for r in enabled] == ["alpha", "beta"]
    assert await rules.count(CustomRuleFilterSpec(enabled_only=True)) == 2
    # enabled_only=False is "no filter", not "disabled only".
    assert await rules.count(CustomRuleFilterSpec(enabled_only=False)) == 3


async def test_decision_get_returns_none_for_a_missing_id(
    backend: PersistenceBackend,
) -> None:
    await backend.decision_records.append_with_next_version(decision("d1"))
    assert await backend.decision_records.get("d2") is None


async def test_get_by_id_is_scoped_to_the_channel(backend: PersistenceBackend) -> None:
    stored = message("m1", channel="general")
    await backend.messages.append(stored)
    await backend.messages.append(message("m2", channel="other"))
    assert await backend.messages.get_by_id("general", "m1") == stored
    assert await backend.messages.get_by_id("other", "m1") is None
    assert await backend.messages.get_by_id("general", "missing") is None


async def test_message_json_round_trip_with_unicode(
    backend: PersistenceBackend,
) -> None:
    stored = message(
        "uni",
        content=(
            {"kind": "text", "text": 'Grüße, 世界! 🚀 «quotes» "dq" \\ back'},
            {"kind": "data", "data": {"nested": [1, 2.5, None, True, "ß"]}},
            "bare string part",
        ),
        attachments=({"name": "résumé.pdf", "size": 12345}, ["a", "ü"]),
        metadata={"ключ": "значение", "emoji": "🎉", "n": 0, "deep": {"x": [{}]}},
    )
    await backend.messages.append(stored)
    loaded = await backend.messages.get_by_id("general", "uni")
    assert loaded == stored
    assert loaded is not None
    assert loaded.metadata["ключ"] == "значение"
    (history,) = await backend.messages.get_history("general", 1)
    assert history == stored


async def test_backend_settings_use_the_system_namespace(
    backend: PersistenceBackend,
) -> None:
    assert await backend.get_setting("theme") is None
    await backend.set_setting("theme", "dark")
    assert await backend.get_setting("theme") == "dark"
    stored = await backend.settings.get(("_system", "theme"))
    assert stored is not None
    assert stored.value == "dark"
    assert stored.updated_at
    await backend.set_setting("theme", "light")
    assert await backend.get_setting("theme") == "light"
    assert [r.key for r in await backend.settings.get_namespace("_system")] == ["theme"]
    # Another namespace with the same key is not what get_setting reads.
    await backend.settings.save(setting_row("ui", "theme", "neon", "t1"))
    assert await backend.get_setting("theme") == "light"
    await backend.settings.save(setting_row("_system", "raw", "direct", "t1"))
    assert await backend.get_setting("raw") == "direct"


async def test_get_by_username_hit_and_miss(backend: PersistenceBackend) -> None:
    alice = user("u1", username="alice", org_roles=("eng",))
    await backend.users.save(alice)
    await backend.users.save(user("u2", username="bob"))
    assert await backend.users.get_by_username("alice") == alice
    assert await backend.users.get_by_username("Alice") is None
    assert await backend.users.get_by_username("carol") is None


async def test_get_by_hash_hit_and_miss(backend: PersistenceBackend) -> None:
    keys = await _seed_keys(backend)
    assert await backend.api_keys.get_by_hash("hash-k3") == keys["k3"]
    assert await backend.api_keys.get_by_hash("hash-nope") is None
