"""``insert`` and ``update_entity`` methods: create only, replace only.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

import pytest

from synthorg.persistence import (
    DuplicateRecordError,
    PersistenceBackend,
    ProjectFilterSpec,
    ProjectStatus,
    RecordNotFoundError,
)
from tests.repositories._rows import (
    at_second,
    project,
)


async def test_project_create_inserts_a_new_project(
    backend: PersistenceBackend,
) -> None:
    full = project(
        "p1",
        description="desc",
        team=("a", "b"),
        lead="a",
        task_ids=("t1",),
        deadline=at_second(3600),
        budget=12.5,
        status=ProjectStatus.ACTIVE,
    )
    await backend.projects.create(full)
    assert await backend.projects.get("p1") == full


async def test_project_create_refuses_an_existing_id_and_keeps_the_row(
    backend: PersistenceBackend,
) -> None:
    original = project("p1", budget=5.0, lead="alice")
    await backend.projects.create(original)
    with pytest.raises(DuplicateRecordError):
        await backend.projects.create(
            project("p1", name="Other", budget=99.0, status=ProjectStatus.CANCELLED)
        )
    assert await backend.projects.get("p1") == original
    assert await backend.projects.count(ProjectFilterSpec()) == 1


async def test_project_create_refuses_an_id_written_by_save(
    backend: PersistenceBackend,
) -> None:
    original = project("p1")
    await backend.projects.save(original)
    with pytest.raises(DuplicateRecordError):
        await backend.projects.create(project("p1", name="Clobber"))
    assert await backend.projects.get("p1") == original


async def test_project_update_replaces_every_field(backend: PersistenceBackend) -> None:
    await backend.projects.create(
        project("p1", team=("a",), lead="a", deadline=at_second(10), budget=1.0)
    )
    await backend.projects.create(project("p2"))
    replaced = project(
        "p1",
        name="Renamed",
        description="new",
        team=("x", "y"),
        lead=None,
        task_ids=("t9", "t8"),
        deadline=None,
        budget=7.25,
        status=ProjectStatus.ON_HOLD,
    )
    await backend.projects.update(replaced)
    assert await backend.projects.get("p1") == replaced
    assert await backend.projects.get("p2") == project("p2")


async def test_project_update_of_a_missing_id_raises_and_writes_nothing(
    backend: PersistenceBackend,
) -> None:
    await backend.projects.create(project("p1"))
    with pytest.raises(RecordNotFoundError):
        await backend.projects.update(project("missing", budget=3.0))
    assert await backend.projects.get("missing") is None
    assert await backend.projects.count(ProjectFilterSpec()) == 1
    assert await backend.projects.get("p1") == project("p1")


async def test_project_save_stays_an_upsert(backend: PersistenceBackend) -> None:
    await backend.projects.save(project("p1", budget=1.0))
    assert await backend.projects.get("p1") == project("p1", budget=1.0)
    await backend.projects.save(project("p1", budget=2.0, status=ProjectStatus.ACTIVE))
    assert await backend.projects.get("p1") == project(
        "p1", budget=2.0, status=ProjectStatus.ACTIVE
    )
    assert await backend.projects.count(ProjectFilterSpec()) == 1
    # and update works on a row that save created
    await backend.projects.update(project("p1", name="Via update"))
    assert await backend.projects.get("p1") == project("p1", name="Via update")
