"""Upgrade tests: a database at an older schema keeps every row.

Each case under ``tests/migrations/cases/<case>/`` holds the schema at ``v1``
and ``v2``. The test generates v1 into a tmp ``generated/``, builds a real
database from it (SQLite file, PostgreSQL database), fills rows, evolves the
YAML to v2 (revision 0002), applies it with the production runner, checks
every row and value, and runs the drift check against the v2 desired DDL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from synthorg.persistence.errors import MigrationError
from tests.migrations._support import CASES, Db, evolve, open_db


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Db]:
    if request.param == "sqlite":
        where = str(tmp_path / "upgrade.db")
    else:
        server = request.getfixturevalue("pg_server")
        where = server.dsn(request.getfixturevalue("pg_database"))
    async with open_db(str(request.param), where) as database:
        yield database


THING = "INSERT INTO things (id, amount, label, status, comment) VALUES (?, ?, ?, ?, ?)"
ITEM = (
    "INSERT INTO items (id, name, qty, kind, price, added_at) VALUES (?, ?, ?, ?, ?, ?)"
)


async def _at_v1(db: Db, case: str, out: Path) -> None:
    evolve(CASES / case / "v1", out)
    assert await db.migrate(out) == ["0001_initial"]


async def _to_v2(db: Db, case: str, out: Path) -> dict[str, str]:
    changed = evolve(CASES / case / "v2", out)
    revisions = sorted(p for p in changed if p.startswith(f"migrations/{db.dialect}/"))
    assert len(revisions) == 1 and "/0002_" in revisions[0]
    applied = await db.migrate(out)
    assert applied == [Path(revisions[0]).stem]
    assert await db.drift(out) == []
    assert await db.migrate(out) == []  # up to date: a no-op
    return changed


async def test_add_column_with_backfill_relaxed_checks_and_index_changes(
    db: Db, tmp_path: Path
) -> None:
    await _at_v1(db, "add_column", tmp_path)
    rows = [("i1", "apple", 3, "a"), ("i2", "pear", 0, "b")]
    for row in rows:
        await db.execute(
            "INSERT INTO items (id, name, qty, kind) VALUES (?, ?, ?, ?)", *row
        )
    changed = await _to_v2(db, "add_column", tmp_path)
    revision = next(
        t for p, t in changed.items() if p.startswith(f"migrations/{db.dialect}/0002")
    )
    assert 'CREATE INDEX "ix_items_name"' in revision
    if db.dialect == "postgres":  # SQLite's rebuild drops it with the old table
        assert 'DROP INDEX IF EXISTS "ix_items_qty"' in revision

    got = await db.fetch(
        "SELECT id, name, qty, kind, price, note FROM items ORDER BY id"
    )
    assert got == [(*row, 1.5, None) for row in rows]
    stamped = await db.fetch("SELECT added_at FROM items WHERE added_at IS NOT NULL")
    assert len(stamped) == 2
    # The widened enum check and relaxed bound accept what v1 refused.
    await db.execute(
        ITEM,
        "i3",
        "fig",
        -5,
        "c",
        2.0,
        "2024-01-01T00:00:00.000000+00:00",
    )
    with pytest.raises(Exception):  # noqa: B017 - each driver's own IntegrityError
        await db.execute(
            ITEM,
            "i4",
            "kiwi",
            -11,
            "c",
            2.0,
            "2024-01-01T00:00:00.000000+00:00",
        )


async def test_rename_table_and_columns_keeps_rows_and_references(
    db: Db, tmp_path: Path
) -> None:
    await _at_v1(db, "rename", tmp_path)
    await db.execute("INSERT INTO owners (id, name) VALUES (?, ?)", "o1", "Ada")
    await db.execute("INSERT INTO owners (id, name) VALUES (?, ?)", "o2", "Bob")
    for pet, owner, nick in (
        ("p1", "o1", "rex"),
        ("p2", "o1", "tom"),
        ("p3", "o2", "kit"),
    ):
        await db.execute(
            "INSERT INTO pets (id, owner_id, nick) VALUES (?, ?, ?)", pet, owner, nick
        )
    changed = await _to_v2(db, "rename", tmp_path)
    assert any("0002_rename_owners_people" in path for path in changed)

    assert await db.fetch("SELECT id, full_name FROM people ORDER BY id") == [
        ("o1", "Ada"),
        ("o2", "Bob"),
    ]
    assert await db.fetch("SELECT id, owner_id, nickname FROM pets ORDER BY id") == [
        ("p1", "o1", "rex"),
        ("p2", "o1", "tom"),
        ("p3", "o2", "kit"),
    ]
    # The foreign key follows the renamed table: enforced, and cascading.
    with pytest.raises(Exception):  # noqa: B017
        await db.execute(
            "INSERT INTO pets (id, owner_id, nickname) VALUES (?, ?, ?)",
            "p9",
            "o9",
            "x",
        )
    await db.execute("DELETE FROM people WHERE id = ?", "o1")
    assert await db.fetch("SELECT id FROM pets") == [("p3",)]
    with pytest.raises(Exception):  # noqa: B017 - the unique index was renamed, not lost
        await db.execute(
            "INSERT INTO people (id, full_name) VALUES (?, ?)", "o3", "Bob"
        )


async def test_type_widening_rebuilds_a_referenced_table_without_losing_children(
    db: Db, tmp_path: Path
) -> None:
    await _at_v1(db, "widen", tmp_path)
    await db.execute(
        THING,
        "t1",
        7,
        "seven",
        "x",
        "first",
    )
    await db.execute("INSERT INTO parts (id, thing_id) VALUES (?, ?)", "part1", "t1")
    await db.execute("INSERT INTO parts (id, thing_id) VALUES (?, ?)", "part2", "t1")
    changed = await _to_v2(db, "widen", tmp_path)
    revision = changed[
        next(p for p in changed if p.startswith(f"migrations/{db.dialect}/"))
    ]
    if db.dialect == "sqlite":
        assert '"_synthorg_new_things"' in revision  # the documented rebuild
    else:
        assert 'ALTER COLUMN "amount" TYPE DOUBLE PRECISION' in revision
        assert 'ALTER COLUMN "comment" DROP NOT NULL' in revision

    got = await db.fetch("SELECT id, amount, label, status, comment FROM things")
    assert got == [("t1", 7.0, "seven", "x", "first")]
    assert isinstance(got[0][1], float)
    assert await db.fetch("SELECT id, thing_id FROM parts ORDER BY id") == [
        ("part1", "t1"),
        ("part2", "t1"),
    ]
    # Widened: any status, a NULL comment, a fractional amount.
    await db.execute(
        THING,
        "t2",
        2.5,
        "",
        "anything",
        None,
    )
    # The rebuilt table is still referenced: enforced, and cascading.
    with pytest.raises(Exception):  # noqa: B017
        await db.execute(
            "INSERT INTO parts (id, thing_id) VALUES (?, ?)", "part9", "nope"
        )
    await db.execute("DELETE FROM things WHERE id = ?", "t1")
    assert await db.fetch("SELECT id FROM parts") == []


async def test_failed_upgrade_revision_rolls_back_and_leaves_rows(
    db: Db, tmp_path: Path
) -> None:
    """A NOT NULL column without a value fails on a filled table, atomically."""
    await _at_v1(db, "add_column", tmp_path)
    await db.execute(
        "INSERT INTO items (id, name, qty, kind) VALUES (?, ?, ?, ?)", "i1", "a", 1, "a"
    )
    schema = tmp_path / "schema"
    schema.mkdir()
    text = (CASES / "add_column" / "v1" / "items.yaml").read_text(encoding="utf-8")
    (schema / "items.yaml").write_text(
        text.replace(
            "  qty: {type: int, ge: 0}\n",
            "  qty: {type: int, ge: 0}\n  sku: {type: str}\n",
        )
        + "allow_destructive: ['not_null:sku']\n",
        encoding="utf-8",
    )
    evolve(schema, tmp_path)
    with pytest.raises(MigrationError):
        await db.migrate(tmp_path)
    assert await db.fetch("SELECT id, name FROM items") == [("i1", "a")]
    assert await db.drift(tmp_path) != []  # still at 0001
    applied = await db.fetch('SELECT revision FROM "_synthorg_migrations"')
    assert applied == [("0001_initial",)]
