"""A short tour of ``synthorg.persistence`` on an embedded SQLite file.

Run with ``make demo`` (or ``.venv/bin/python examples/demo.py``). Each run
starts from a clean ``.demo/demo.db``: it connects, applies the generated
migrations, stores a handful of tasks across two projects, reads them back
by key, by filter and page by page, updates and deletes one, uses the
backend-level settings, and disconnects, printing one line per step.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from synthorg.persistence import (
    PersistenceBackend,
    PersistenceConfig,
    Priority,
    SQLiteConfig,
    Task,
    TaskFilterSpec,
    TaskStatus,
    TaskType,
    create_backend,
)

DEMO_DIR = Path(".demo")
DEMO_DB = DEMO_DIR / "demo.db"


def step(message: str) -> None:
    """Print one readable line for a step of the demo."""
    print(f"- {message}")


def describe(tasks: tuple[Task, ...]) -> str:
    """``id (status)`` for each task, comma separated."""
    return ", ".join(f"{t.id} ({t.status.value})" for t in tasks) or "(none)"


def fresh_database() -> None:
    """Create ``.demo/`` and remove the database (and WAL files) of a past run."""
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        DEMO_DB.with_name(DEMO_DB.name + suffix).unlink(missing_ok=True)


def sample_tasks() -> list[Task]:
    """Five tasks across two projects and several statuses."""
    return [
        Task(
            id="apollo-1",
            title="Design the landing module",
            type=TaskType.DESIGN,
            project="apollo",
            created_by="alice",
            status=TaskStatus.COMPLETED,
        ),
        Task(
            id="apollo-2",
            title="Implement telemetry ingestion",
            type=TaskType.DEVELOPMENT,
            project="apollo",
            created_by="alice",
            assigned_to="bob",
            status=TaskStatus.IN_PROGRESS,
            priority=Priority.HIGH,
            budget_limit=250.0,
        ),
        Task(
            id="apollo-3",
            title="Review the ingestion code",
            type=TaskType.REVIEW,
            project="apollo",
            created_by="bob",
            reviewers=("carol",),
            dependencies=("apollo-2",),
        ),
        Task(
            id="gemini-1",
            title="Research docking procedures",
            type=TaskType.RESEARCH,
            project="gemini",
            created_by="carol",
            status=TaskStatus.IN_PROGRESS,
            metadata={"sources": 3},
        ),
        Task(
            id="gemini-2",
            title="Weekly sync",
            type=TaskType.MEETING,
            project="gemini",
            created_by="dave",
        ),
    ]


async def tour(backend: PersistenceBackend) -> None:
    """Every step of the demo on a connected, migrated backend."""
    tasks = sample_tasks()
    for task in tasks:
        await backend.tasks.save(task)
    step(f"saved {len(tasks)} tasks in projects apollo and gemini")

    found = await backend.tasks.get("apollo-2")
    assert found is not None
    step(
        f"got {found.id}: {found.title!r}, assigned to {found.assigned_to}, "
        f"budget {found.budget_limit:.2f}"
    )
    missing = await backend.tasks.get("no-such-task")
    step(f"get of an unknown id returns {missing}")

    by_project = await backend.tasks.query(TaskFilterSpec(project="apollo"))
    step(f"project=apollo: {describe(by_project)}")
    by_status = await backend.tasks.query(TaskFilterSpec(status=TaskStatus.IN_PROGRESS))
    step(f"status=in_progress: {describe(by_status)}")
    combined = await backend.tasks.query(
        TaskFilterSpec(project="gemini", status=TaskStatus.CREATED)
    )
    step(f"project=gemini and status=created: {describe(combined)}")

    total = await backend.tasks.count(TaskFilterSpec())
    in_progress = await backend.tasks.count(
        TaskFilterSpec(status=TaskStatus.IN_PROGRESS)
    )
    step(f"count: {total} tasks, {in_progress} in progress")

    offset = 0
    while page := await backend.tasks.list_items(limit=2, offset=offset):
        step(f"page at offset {offset}: {', '.join(t.id for t in page)}")
        offset += len(page)
    # Every row, however many, in the same order: keyset batches, flat memory.
    streamed = [t.id async for t in backend.tasks.iter_list_items(batch_size=2)]
    step(f"iter_list_items (batches of 2): {', '.join(streamed)}")

    review = await backend.tasks.get("apollo-3")
    assert review is not None
    await backend.tasks.save(
        review.model_copy(
            update={"status": TaskStatus.ASSIGNED, "assigned_to": "carol"}
        )
    )
    updated = await backend.tasks.get("apollo-3")
    assert updated is not None
    step(
        f"updated apollo-3 (save is an upsert): status {updated.status.value}, "
        f"assigned to {updated.assigned_to}"
    )

    deleted = await backend.tasks.delete("gemini-2")
    deleted_again = await backend.tasks.delete("gemini-2")
    remaining = await backend.tasks.count(TaskFilterSpec())
    step(
        f"deleted gemini-2: {deleted} (again: {deleted_again}); "
        f"{remaining} tasks remain"
    )

    await backend.set_setting("demo.last_run", "ok")
    await backend.set_setting("demo.owner", "alice")
    await backend.set_setting("demo.owner", "bob")
    owner = await backend.get_setting("demo.owner")
    unknown = await backend.get_setting("demo.unknown")
    step(f"settings: demo.owner={owner!r} (upserted), demo.unknown={unknown!r}")


async def main() -> None:
    """Run the demo against a clean ``.demo/demo.db``."""
    fresh_database()
    config = PersistenceConfig(backend="sqlite", sqlite=SQLiteConfig(path=str(DEMO_DB)))
    backend = create_backend(config)
    await backend.connect()
    step(f"connected to {backend.backend_name} database {DEMO_DB}")
    try:
        await backend.migrate()
        step(f"migrated; healthy: {await backend.health_check()}")
        await tour(backend)
    finally:
        await backend.disconnect()
    step(f"disconnected (connected: {backend.is_connected})")


if __name__ == "__main__":
    asyncio.run(main())
