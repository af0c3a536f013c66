"""``compare_and_set`` methods: write only when a column still holds the expected value.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from synthorg.persistence import (
    PersistenceBackend,
    WorkflowDefinitionFilterSpec,
    WorkflowType,
)
from tests.repositories._rows import (
    RACERS,
    T0,
    definition,
    ids,
    preset_override,
    setting_row,
)


async def test_save_if_revision_none_creates_and_overwrites(
    backend: PersistenceBackend,
) -> None:
    wd = backend.workflow_definitions
    first = definition("w1")
    assert await wd.save_if_revision(first, None) is True
    assert await wd.get("w1") == first
    other = definition("w1", revision=7, name="forced")
    assert await wd.save_if_revision(other, None) is True  # unconditional upsert
    assert await wd.get("w1") == other


async def test_save_if_revision_matching_revision_writes(
    backend: PersistenceBackend,
) -> None:
    wd = backend.workflow_definitions
    await wd.save(definition("w1"))
    edited = definition(
        "w1",
        revision=2,
        name="edited",
        workflow_type=WorkflowType.KANBAN,
        updated_at=T0 + timedelta(hours=1),
    )
    assert await wd.save_if_revision(edited, 1) is True
    assert await wd.get("w1") == edited
    spec = WorkflowDefinitionFilterSpec(workflow_type=WorkflowType.KANBAN)
    assert ids(await wd.query(spec)) == ["w1"]


async def test_save_if_revision_stale_revision_changes_nothing(
    backend: PersistenceBackend,
) -> None:
    wd = backend.workflow_definitions
    current = definition("w1", revision=3, name="current")
    await wd.save(current)
    for stale in (1, 2, 4):
        loser = definition("w1", revision=stale + 1, name=f"stale {stale}")
        assert await wd.save_if_revision(loser, stale) is False
    assert await wd.get("w1") == current


async def test_save_if_revision_of_a_missing_definition_creates_nothing(
    backend: PersistenceBackend,
) -> None:
    wd = backend.workflow_definitions
    assert await wd.save_if_revision(definition("w1", revision=2), 1) is False
    assert await wd.get("w1") is None
    assert await wd.count(WorkflowDefinitionFilterSpec()) == 0


async def test_save_if_revision_concurrent_editors_one_winner(
    backend: PersistenceBackend,
) -> None:
    wd = backend.workflow_definitions
    await wd.save(definition("w1"))
    edits = [definition("w1", revision=2, name=f"edit {i}") for i in range(RACERS)]
    results = await asyncio.gather(*(wd.save_if_revision(e, 1) for e in edits))
    assert results.count(True) == 1
    assert await wd.get("w1") == edits[results.index(True)]


async def test_save_if_unchanged_compare_and_set_rules(
    backend: PersistenceBackend,
) -> None:
    repo = backend.preset_overrides
    first = preset_override("fast", "t1", temperature=0.2)
    # A version for a row that does not exist: refused.
    assert await repo.save_if_unchanged(first, "t0") is False
    assert await repo.get("fast") is None
    # "": only when absent.
    assert await repo.save_if_unchanged(first, "") is True
    assert await repo.save_if_unchanged(preset_override("fast", "t9"), "") is False
    assert await repo.get("fast") == first
    # The current version: written; a stale one: refused, nothing changes.
    second = preset_override("fast", "t2", temperature=0.4)
    assert await repo.save_if_unchanged(second, "t1") is True
    assert await repo.save_if_unchanged(preset_override("fast", "t3"), "t1") is False
    assert await repo.get("fast") == second
    # None: unconditional upsert.
    third = preset_override("fast", "t3", temperature=0.9)
    assert await repo.save_if_unchanged(third) is True
    assert await repo.get("fast") == third


async def test_concurrent_save_if_unchanged_has_one_winner(
    backend: PersistenceBackend,
) -> None:
    repo = backend.preset_overrides
    await repo.save(preset_override("fast", "t0"))
    contenders = [preset_override("fast", f"t-{i}", who=i) for i in range(RACERS)]
    results = await asyncio.gather(
        *(repo.save_if_unchanged(c, "t0") for c in contenders)
    )
    assert results.count(True) == 1
    winner = contenders[results.index(True)]
    assert await repo.get("fast") == winner


async def test_set_if_unchanged_none_upserts(backend: PersistenceBackend) -> None:
    settings = backend.settings
    assert (
        await settings.set_if_unchanged(setting_row("ns", "k", "v1", "t1"), None)
        is True
    )
    assert await settings.get(("ns", "k")) == setting_row("ns", "k", "v1", "t1")
    assert await settings.set_if_unchanged(setting_row("ns", "k", "v2", "t2")) is True
    assert await settings.get(("ns", "k")) == setting_row("ns", "k", "v2", "t2")


async def test_set_if_unchanged_empty_string_inserts_only_when_absent(
    backend: PersistenceBackend,
) -> None:
    settings = backend.settings
    assert (
        await settings.set_if_unchanged(setting_row("ns", "k", "first", "t1"), "")
        is True
    )
    assert await settings.get(("ns", "k")) == setting_row("ns", "k", "first", "t1")
    assert (
        await settings.set_if_unchanged(setting_row("ns", "k", "second", "t2"), "")
        is False
    )
    assert await settings.get(("ns", "k")) == setting_row("ns", "k", "first", "t1")


async def test_set_if_unchanged_with_the_current_version_writes(
    backend: PersistenceBackend,
) -> None:
    settings = backend.settings
    await settings.save(setting_row("ns", "k", "v1", "t1"))
    assert (
        await settings.set_if_unchanged(setting_row("ns", "k", "v2", "t2"), "t1")
        is True
    )
    assert await settings.get(("ns", "k")) == setting_row("ns", "k", "v2", "t2")


async def test_set_if_unchanged_with_a_stale_version_is_refused(
    backend: PersistenceBackend,
) -> None:
    settings = backend.settings
    await settings.save(setting_row("ns", "k", "v1", "t1"))
    assert (
        await settings.set_if_unchanged(setting_row("ns", "k", "v2", "t2"), "t1")
        is True
    )
    assert (
        await settings.set_if_unchanged(setting_row("ns", "k", "v3", "t3"), "t1")
        is False
    )
    assert await settings.get(("ns", "k")) == setting_row("ns", "k", "v2", "t2")


async def test_set_if_unchanged_with_a_version_for_a_missing_row_is_refused(
    backend: PersistenceBackend,
) -> None:
    assert (
        await backend.settings.set_if_unchanged(setting_row("ns", "k", "v", "t2"), "t1")
        is False
    )
    assert await backend.settings.get(("ns", "k")) is None


async def test_concurrent_set_if_unchanged_has_exactly_one_winner(
    backend: PersistenceBackend,
) -> None:
    await backend.settings.save(setting_row("ns", "k", "initial", "v0"))
    candidates = [
        setting_row("ns", "k", f"value-{i}", f"v1-{i:02d}") for i in range(50)
    ]
    results = await asyncio.gather(
        *(backend.settings.set_if_unchanged(c, "v0") for c in candidates)
    )
    assert results.count(True) == 1
    winner = candidates[results.index(True)]
    assert await backend.settings.get(("ns", "k")) == winner
