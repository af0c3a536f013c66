"""Golden cases: each ``cases/<case>/schema`` renders to exactly ``expected/``.

Rendering uses an empty output folder, so every case starts without
migration history and gets revision ``0001_initial``. Regenerate with
``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/codegen/test_golden.py``
and read the diff before committing it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from codegen.pipeline import render_outputs
from tests.codegen._support import (
    CASES,
    ROOT,
    case_names,
    read_tree,
    tree_diff,
    update_golden,
    write_tree,
)


@pytest.mark.parametrize("case", case_names(CASES))
def test_golden(case: str, tmp_path: Path) -> None:
    rendered, pages = render_outputs(CASES / case / "schema", tmp_path)
    expected_dir = CASES / case / "expected"
    docs_dir = CASES / case / "docs"
    if update_golden():
        write_tree(expected_dir, rendered)
        write_tree(docs_dir, pages)
        return
    assert read_tree(docs_dir) == pages, (
        f"{case}: docs/ differs from the rendered pages (UPDATE_GOLDEN=1)"
    )
    assert expected_dir.is_dir(), (
        f"{case}: no expected/ folder; run with UPDATE_GOLDEN=1 to create it"
    )
    problems = tree_diff(read_tree(expected_dir), rendered)
    assert not problems, (
        f"golden case {case!r} differs from expected/ "
        f"(UPDATE_GOLDEN=1 regenerates):\n{problems}"
    )


def test_cases_exist() -> None:
    # A renamed or emptied cases/ folder must not make the suite vacuous.
    assert {"minimal", "filtered", "composite_key"} <= set(case_names(CASES))


def _declared_kinds(schema_dir: Path) -> set[str]:
    """The method kinds the YAML files of ``schema_dir`` declare."""
    kinds: set[str] = set()
    for path in schema_dir.glob("*.yaml"):
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        methods = (spec.get("repository") or {}).get("methods") or {}
        kinds.update(method["kind"] for method in methods.values())
    return kinds


def test_one_case_per_method_kind() -> None:
    # Each kind the project's schema uses has a small case named after it,
    # declaring that kind (and only it): where a new kind's golden goes.
    cases = set(case_names(CASES))
    for kind in sorted(_declared_kinds(ROOT / "schema")):
        assert kind in cases, f"no golden case tests/codegen/cases/{kind}/"
        assert _declared_kinds(CASES / kind / "schema") == {kind}, kind
