"""bench.compare: per-process ratios and the before/after table."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench.compare import export, ratios, table


def _result(gen: list[float], floor: list[float]) -> dict[str, object]:
    return {
        "SQLite": {
            "floor": "sqlite3 sync (floor)",
            "bulk_floor": "sqlite3 sync · executemany (floor)",
            "samples": [
                {"workload": "get", "label": "generated", "values": gen},
                {"workload": "get", "label": "sqlite3 sync (floor)", "values": floor},
                {"workload": "get", "label": "aiosqlite tuned", "values": [1.0]},
                {"workload": "bulk", "label": "generated · save_many", "values": [8]},
                {
                    "workload": "bulk",
                    "label": "sqlite3 sync · executemany (floor)",
                    "values": [10],
                },
            ],
        }
    }


def test_ratio_is_median_generated_over_median_floor() -> None:
    got = ratios(_result([1.0, 30.0, 3.0], [2.0, 4.0, 100.0]))
    assert got[("SQLite", "get")] == pytest.approx(3.0 / 4.0)
    # The bulk row compares with the bulk floor, not the single-row floor.
    assert got[("SQLite", "bulk")] == pytest.approx(0.8)
    assert set(got) == {("SQLite", "get"), ("SQLite", "bulk")}


def test_table_reports_median_before_after_and_change() -> None:
    before = [{("SQLite", "get"): 1.0}, {("SQLite", "get"): 2.0}]
    after = [{("SQLite", "get"): 3.0}, {("SQLite", "get"): 3.0}]
    text = table(before, after)
    assert "| SQLite | get | 1.50x (1.00-2.00) | 3.00x (3.00-3.00) | 2.00 |" in text
    # A workload only one side measured is shown, not dropped.
    only_after = table(before, [{("SQLite", "count"): 1.0}])
    assert "| SQLite | count | n/a | 1.00x (1.00-1.00) | - |" in only_after


def test_export_gives_the_revisions_library(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True
    )
    if head.returncode != 0:
        pytest.fail(f"not a git checkout: {head.stderr}")
    src = export(head.stdout.strip(), tmp_path)
    assert (src / "synthorg" / "persistence" / "__init__.py").is_file()
    # generated/ comes along, reached through the package's symlink.
    assert (src / "synthorg" / "persistence" / "generated" / "tasks.py").is_file()
