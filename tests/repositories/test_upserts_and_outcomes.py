"""``upsert`` and ``upsert_outcome`` methods: one row per key, created or replaced.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from synthorg.persistence import (
    ArtifactType,
    CircuitState,
    PersistenceBackend,
)
from tests.repositories._rows import (
    T0,
    artifact,
    at_second,
    breaker,
    secret,
)


async def test_breaker_save_upserts_one_pair_and_refuses_a_self_pair(
    backend: PersistenceBackend,
) -> None:
    cb = backend.circuit_breaker_state
    await cb.save(breaker("a", "b", 1))
    updated = breaker("a", "b", 5, state=CircuitState.OPEN, opened_at=T0)
    await cb.save(updated)
    assert await cb.load_all() == (updated,)
    assert await cb.delete(("a", "b")) is True
    assert await cb.load_all() == ()
    with pytest.raises(ValidationError):
        breaker("a", "a")


async def test_store_replaces_the_ciphertext_and_key_version(
    backend: PersistenceBackend,
) -> None:
    repo = backend.connection_secrets
    await repo.store(secret("s1", b"old", 1))
    await repo.store(secret("s2", b"other", 1))
    await repo.store(secret("s1", b"rotated", 2))
    assert await repo.retrieve("s1") == secret("s1", b"rotated", 2)
    assert await repo.retrieve("s2") == secret("s2", b"other", 1)
    assert await repo.delete("s1") is True
    assert await repo.retrieve("s1") is None
    assert await repo.delete("s1") is False


async def test_save_returning_outcome_true_on_create_false_on_update(
    backend: PersistenceBackend,
) -> None:
    repo = backend.artifacts
    first = artifact("a1", description="v1", size_bytes=10)
    assert await repo.save_returning_outcome(first) is True
    assert await repo.get("a1") == first

    changed = artifact(
        "a1",
        type=ArtifactType.DATASET,
        path="/store/moved",
        task_id="task-2",
        created_by="agent-b",
        description="v2",
        content_type="text/csv",
        size_bytes=99,
        created_at=at_second(60),
        project_id="proj-1",
    )
    assert await repo.save_returning_outcome(changed) is False
    assert await repo.get("a1") == changed
    # Saving the identical entity again is still an update.
    assert await repo.save_returning_outcome(changed) is False
    # Another id is a fresh create and leaves the first untouched.
    assert await repo.save_returning_outcome(artifact("a2")) is True
    assert [a.id for a in await repo.list_items()] == ["a1", "a2"]
    assert await repo.get("a1") == changed


async def test_save_returning_outcome_after_plain_save_is_an_update(
    backend: PersistenceBackend,
) -> None:
    await backend.artifacts.save(artifact("a1", description="old"))
    assert (
        await backend.artifacts.save_returning_outcome(
            artifact("a1", description="new")
        )
        is False
    )
    stored = await backend.artifacts.get("a1")
    assert stored is not None
    assert stored.description == "new"
    # After a delete, the same id is created again.
    assert await backend.artifacts.delete("a1") is True
    assert await backend.artifacts.save_returning_outcome(artifact("a1")) is True
