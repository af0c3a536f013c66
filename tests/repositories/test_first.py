"""``first`` methods: the first row of an ordered, filtered selection, or None.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

import pytest

from synthorg.persistence import (
    FineTuneStatus,
    InvalidValueError,
    PersistenceBackend,
)
from tests.repositories._rows import (
    _seed_checkpoints,
    at_second,
    checkpoint,
    plan,
    result,
    run,
)


async def test_get_by_plan_returns_the_newest_result_of_that_plan(
    backend: PersistenceBackend,
) -> None:
    await backend.training_plans.save(plan("p1"))
    await backend.training_plans.save(plan("p2"))
    results = backend.training_results
    assert await results.get_by_plan("p1") is None
    await results.save(result("r-old", "p1", 1))
    await results.save(result("r-new", "p1", 5))
    await results.save(result("r-mid", "p1", 3))
    await results.save(result("r-other", "p2", 9))  # newer, another plan
    assert await results.get_by_plan("p1") == result("r-new", "p1", 5)
    assert await results.get_by_plan("p2") == result("r-other", "p2", 9)
    # Same completed_at: the ordering's tie-break (id ascending) decides.
    await results.save(result("r-a", "p1", 5))
    got = await results.get_by_plan("p1")
    assert got is not None
    assert got.id == "r-a"
    assert await results.get_by_plan("missing") is None


async def test_get_active_run_is_the_latest_running_run(
    backend: PersistenceBackend,
) -> None:
    runs = backend.fine_tune_runs
    assert await runs.get_active_run() is None
    await runs.save(run("done", FineTuneStatus.COMPLETED, 30))  # newest, not running
    await runs.save(run("r-old", FineTuneStatus.RUNNING, 5))
    assert await runs.get_active_run() == run("r-old", FineTuneStatus.RUNNING, 5)
    await runs.save(run("r-new", FineTuneStatus.RUNNING, 10))
    assert await runs.get_active_run() == run("r-new", FineTuneStatus.RUNNING, 10)
    # Newest first overall: started_at desc, then id.
    assert [r.id for r in await runs.list_items()] == ["done", "r-new", "r-old"]


@pytest.mark.parametrize(
    ("execution_id", "task_id", "expected"),
    [
        ("e1", None, "c2"),  # highest turn of e1, across its tasks
        (None, "t1", "c4"),  # highest turn of t1, across executions
        ("e1", "t1", "c2"),
        ("e1", "t2", "c6"),
        (None, "t2", "c5"),
        ("e3", None, "c5"),
        ("e2", "t2", None),  # both exist, but never together
        ("missing", None, None),
        (None, "missing", None),
    ],
)
async def test_get_latest_by_execution_and_or_task(
    backend: PersistenceBackend,
    execution_id: str | None,
    task_id: str | None,
    expected: str | None,
) -> None:
    await _seed_checkpoints(backend)
    latest = await backend.checkpoints.get_latest(
        execution_id=execution_id, task_id=task_id
    )
    assert (None if latest is None else latest.id) == expected


async def test_get_latest_returns_the_full_checkpoint(
    backend: PersistenceBackend,
) -> None:
    await _seed_checkpoints(backend)
    latest = await backend.checkpoints.get_latest(execution_id="e2")
    assert latest == checkpoint(
        "c4", execution_id="e2", task_id="t1", turn=5, created_at=at_second(5)
    )


async def test_get_latest_turn_tie_broken_by_id(backend: PersistenceBackend) -> None:
    for cid in ["cb", "ca", "cc"]:
        await backend.checkpoints.append(
            checkpoint(cid, execution_id="e1", task_id="t1", turn=4)
        )
    latest = await backend.checkpoints.get_latest(execution_id="e1")
    assert latest is not None
    assert latest.id == "ca"


async def test_get_latest_requires_an_argument(backend: PersistenceBackend) -> None:
    await _seed_checkpoints(backend)
    with pytest.raises(InvalidValueError, match="execution_id or task_id"):
        await backend.checkpoints.get_latest()
    with pytest.raises(InvalidValueError, match="execution_id or task_id"):
        await backend.checkpoints.get_latest(execution_id=None, task_id=None)


async def test_get_latest_on_an_empty_table(backend: PersistenceBackend) -> None:
    assert await backend.checkpoints.get_latest(execution_id="e1") is None
