"""Migration planning: destructive refusal and override, state, statements.

Pure generator tests (no database): the refusal messages name the change,
the YAML marker and ``--allow-destructive`` allow it, the committed state
upgrades from version 1 without touching revision 0001, and the
TimescaleDB statements are what the runner executes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from codegen.migrations import MigrationPlanError
from synthorg.persistence.postgres.migrations import (
    TIMESCALE_MISSING,
    hypertable_statements,
)
from tests.migrations._support import CASES, evolve

ROOT = Path(__file__).resolve().parent.parent
ITEMS_V1 = (CASES / "add_column" / "v1" / "items.yaml").read_text(encoding="utf-8")


def _schema(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "schema"
    folder.mkdir(exist_ok=True)
    (folder / "items.yaml").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("edit", "message", "marker"),
    [
        (
            ("  name: {type: str}\n", ""),
            "dropping column 'name' of table 'items'",
            "drop_column:name",
        ),
        (
            ("qty: {type: int, ge: 0}", "qty: {type: int, ge: 1}"),
            "narrowing check 'ck_items_qty_ge'",
            "narrow_check:ck_items_qty_ge",
        ),
        (
            ("values: [a, b]", "values: [a]"),
            "narrowing check 'ck_items_kind'",
            "narrow_check:ck_items_kind",
        ),
        (
            ("qty: {type: int, ge: 0}", "qty: {type: str}"),
            "narrowing the type of column 'qty'",
            "narrow_type:qty",
        ),
        (
            ("  name: {type: str}\n", "  name: {type: str}\n  sku: {type: str}\n"),
            "making column 'sku' of table 'items' NOT NULL without a default",
            "not_null:sku",
        ),
    ],
)
def test_destructive_change_is_refused_by_name_and_allowed_by_marker(
    tmp_path: Path, edit: tuple[str, str], message: str, marker: str
) -> None:
    out = tmp_path / "generated"
    evolve(_schema(tmp_path, ITEMS_V1), out)
    changed = ITEMS_V1.replace(*edit)
    assert changed != ITEMS_V1
    with pytest.raises(MigrationPlanError) as refused:
        evolve(_schema(tmp_path, changed), out)
    assert message in str(refused.value)
    assert f"allow_destructive: [{marker}]" in str(refused.value)
    assert sorted(p.name for p in (out / "migrations" / "sqlite").iterdir()) == [
        "0001_initial.sql"
    ]

    allowed = evolve(
        _schema(tmp_path, changed + f"allow_destructive: ['{marker}']\n"), out
    )
    assert any(p.startswith("migrations/sqlite/0002_") for p in allowed)


def test_dropping_a_table_needs_the_flag(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    schema = _schema(tmp_path, ITEMS_V1)
    (schema / "extras.yaml").write_text(
        ITEMS_V1.replace("items", "extras").replace("Item", "Extra"), encoding="utf-8"
    )
    evolve(schema, out)
    (schema / "extras.yaml").unlink()
    with pytest.raises(
        MigrationPlanError, match=r"dropping table 'extras'.*--allow-destructive"
    ):
        evolve(schema, out)
    changed = evolve(schema, out, allow_destructive=True)
    revision = changed["migrations/postgres/0002_drop_extras.sql"]
    assert 'DROP TABLE "extras";' in revision


def test_cli_flag_allows_destructive_changes(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    evolve(_schema(tmp_path, ITEMS_V1), out)
    schema = _schema(tmp_path, ITEMS_V1.replace("  name: {type: str}\n", ""))

    def run(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *(sys.executable, "-m", "codegen", "generate"),
                *("--schema", str(schema), "--out", str(out), *flags),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    refused = run()
    assert refused.returncode == 2
    assert "dropping column 'name' of table 'items' is destructive" in refused.stderr
    done = run("--allow-destructive")
    assert done.returncode == 0, done.stderr
    assert "migrations/sqlite/0002_drop_items_name.sql" in done.stdout


def test_renames_are_declared_never_guessed(tmp_path: Path) -> None:
    """Without ``renamed_from`` a renamed field is a drop plus an add: refused."""
    out = tmp_path / "generated"
    evolve(_schema(tmp_path, ITEMS_V1), out)
    guessed = ITEMS_V1.replace("  name: {type: str}", "  title: {type: str}")
    with pytest.raises(MigrationPlanError, match="dropping column 'name'"):
        evolve(_schema(tmp_path, guessed), out)
    declared = guessed.replace(
        "title: {type: str}", "title: {type: str, renamed_from: name}"
    )
    changed = evolve(_schema(tmp_path, declared), out)
    assert (
        'RENAME COLUMN "name" TO "title"'
        in changed["migrations/postgres/0002_rename_items_name_title.sql"]
    )


def test_no_ddl_change_updates_the_state_only(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    evolve(_schema(tmp_path, ITEMS_V1), out)
    changed = evolve(
        _schema(tmp_path, ITEMS_V1.replace("name: {type: str}", "name: {type: text}")),
        out,
    )
    assert set(changed) == {"migrations/state.json"}
    state = json.loads(changed["migrations/state.json"])
    assert state["tables"]["items"]["columns"][1]["kind"] == "text"


def test_revisions_are_numbered_and_named_deterministically(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        evolve(CASES / "add_column" / "v1", out)
        evolve(CASES / "add_column" / "v2", out)
    names = sorted(p.name for p in (first / "migrations" / "sqlite").iterdir())
    assert names == [
        "0001_initial.sql",
        "0002_add_items_price_add_items_note_add_items_added_a.sql",
    ]
    for path in (first / "migrations").rglob("*"):
        if path.is_file():
            twin = second / path.relative_to(first)
            assert twin.read_text(encoding="utf-8") == path.read_text(encoding="utf-8")


def test_version_1_state_upgrades_without_touching_revisions(tmp_path: Path) -> None:
    """The committed history (0001 from a v1 state) upgrades byte for byte."""
    out = tmp_path / "generated"
    evolve(CASES / "rename" / "v1", out)
    state = json.loads((out / "migrations" / "state.json").read_text(encoding="utf-8"))
    v1 = {
        "version": 1,
        "revisions": state["revisions"],
        "dialects": {
            d: {
                "tables": {
                    t: spec["rendered"][d] for t, spec in state["tables"].items()
                }
            }
            for d in ("sqlite", "postgres")
        },
    }
    (out / "migrations" / "state.json").write_text(json.dumps(v1), encoding="utf-8")
    revision = (out / "migrations" / "sqlite" / "0001_initial.sql").read_bytes()
    changed = evolve(CASES / "rename" / "v1", out)
    assert set(changed) == {"migrations/state.json"}
    assert json.loads(changed["migrations/state.json"]) == state
    assert (out / "migrations" / "sqlite" / "0001_initial.sql").read_bytes() == revision


def test_hypertable_statements_widen_the_key_by_the_time_column() -> None:
    assert hypertable_statements("cost_records", ("id",), "7 days") == [
        'ALTER TABLE "cost_records" DROP CONSTRAINT "pk_cost_records"',
        'ALTER TABLE "cost_records" ADD CONSTRAINT "pk_cost_records" '
        'PRIMARY KEY ("id", "timestamp")',
        "SELECT create_hypertable('\"cost_records\"', 'timestamp', "
        "chunk_time_interval => INTERVAL '7 days', migrate_data => true, "
        "if_not_exists => true, create_default_indexes => false)",
    ]
    already = hypertable_statements("audit_entries", ("id", "timestamp"), "1 month")
    assert len(already) == 1 and "INTERVAL '1 month'" in already[0]
    assert "enable_timescaledb=False" in TIMESCALE_MISSING
