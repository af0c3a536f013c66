"""``lookup`` methods: one row by a key or a unique column, or None.

Every test runs on both backends (the ``backend`` fixture).
"""

from __future__ import annotations

from synthorg.persistence import (
    CustomRuleFilterSpec,
    PersistenceBackend,
)
from tests.repositories._rows import (
    T0,
    decision,
    parked,
    rule,
    secret,
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
