"""``make bench-scale`` seeds its tables right: grown rows read back valid.

The scale benchmark (``bench/scale_data.py``) writes 1000 rows through the
repositories and copies them server-side up to a million; a wrong column
order or key format would make every figure measure the wrong thing. Here
on a small real SQLite file, read back through the generated repositories.
"""

from __future__ import annotations

from pathlib import Path

from bench.common import make_task, task_id
from bench.scale import offsets_for
from bench.scale_data import (
    PROJECTS,
    TABLES,
    TEMPLATES,
    container_id,
    event_id,
    grow_sql,
    grow_sqlite,
    log_sql,
    restyle,
    write_templates,
)
from synthorg.persistence import PersistenceConfig, SQLiteConfig, create_backend
from synthorg.persistence.generated.provider_audit_events import (
    ProviderAuditEventFilterSpec,
)
from synthorg.persistence.generated.tasks import TaskFilterSpec


def test_restyle_numbers_placeholders_for_asyncpg() -> None:
    assert restyle("a = ? AND b < ? LIMIT ?", "$") == "a = $1 AND b < $2 LIMIT $3"
    assert restyle("a = ?", "%s") == "a = %s"
    assert "$2" in log_sql("$").keyset_after


def test_postgres_growth_sql_has_no_bare_percent() -> None:
    # psycopg would read "%" as a placeholder: modulo is mod() there.
    for table in TABLES:
        sql = grow_sql(table, "postgres")
        assert sql.count("%s") == 2
        assert "%" not in sql.replace("%s", "")


def test_offsets_leave_a_full_page() -> None:
    assert offsets_for(10_000, [0, 1000, 10_000]) == [0, 1000]


async def test_grown_tables_read_back_through_the_repositories(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "scale.db")
    backend = create_backend(
        PersistenceConfig(backend="sqlite", sqlite=SQLiteConfig(path=path))
    )
    await backend.connect()
    try:
        await backend.migrate()
        await write_templates(backend)
        rows = TEMPLATES + 1500
        grow_sqlite(path, TEMPLATES, rows)
        # A grown row is its template's copy under a new key and project.
        grown = await backend.tasks.get(task_id(TEMPLATES + 7))
        assert grown is not None
        template = make_task(7, PROJECTS)
        assert grown.title == template.title
        assert grown.project == f"proj-{(TEMPLATES + 7) % PROJECTS:02d}"
        assert await backend.tasks.count(TaskFilterSpec(project="proj-03")) == len(
            range(3, rows, PROJECTS)
        )
        newest = await backend.provider_audit_events.query(
            ProviderAuditEventFilterSpec(), limit=2
        )
        assert [e.id for e in newest] == [event_id(rows - 1), event_id(rows - 2)]
        page = await backend.provider_audit_events.list_before(
            event_id(rows - 100), limit=1
        )
        assert [e.id for e in page] == [event_id(rows - 101)]
        everything = await backend.tracked_containers.load_all(limit=rows + 1)
        assert len(everything) == rows
        assert everything[-1].container_id == container_id(rows - 1)
    finally:
        await backend.disconnect()
