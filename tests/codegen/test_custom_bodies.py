"""Where a custom method's hand-written body lives, and the check of it.

A body shared by every dialect is written once in ``<runtime>/custom/``; a
dialect's own ``<runtime>/<dialect>/custom/`` file wins for the methods it
defines. ``make generate`` refuses a missing body or a differing signature.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from codegen.build import build
from codegen.custom import check_custom
from codegen.ir import DIALECTS, SchemaIR
from codegen.pipeline import RUNTIME
from codegen.spec import SpecError, load_schema
from tests.codegen._support import ROOT

SHOWN = "runtime"


@pytest.fixture(scope="module")
def schema() -> SchemaIR:
    return build(load_schema(ROOT / "schema"))


def _runtime(tmp_path: Path) -> Path:
    """A copy of the hand-written custom bodies (only what the check reads)."""
    runtime = tmp_path / "runtime"
    for folder in ("custom", *(f"{d}/custom" for d in DIALECTS)):
        shutil.copytree(RUNTIME / folder, runtime / folder)
    return runtime


def test_a_shared_body_serves_every_dialect(schema: SchemaIR) -> None:
    shared = check_custom(schema, RUNTIME, SHOWN)
    for dialect in DIALECTS:
        assert ("decision_records", "list_by_agent") in shared[dialect]
        assert ("settings", "set_many") not in shared[dialect]


def test_a_dialect_body_wins_over_the_shared_one(
    schema: SchemaIR, tmp_path: Path
) -> None:
    runtime = _runtime(tmp_path)
    body = (runtime / "custom" / "decision_records.py").read_text()
    (runtime / "sqlite" / "custom" / "decision_records.py").write_text(body)
    shared = check_custom(schema, runtime, SHOWN)
    assert ("decision_records", "list_by_agent") not in shared["sqlite"]
    assert ("decision_records", "list_by_agent") in shared["postgres"]


def test_a_missing_body_names_both_places(schema: SchemaIR, tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    (runtime / "custom" / "decision_records.py").unlink()
    with pytest.raises(SpecError) as info:
        check_custom(schema, runtime, SHOWN)
    message = info.value.message
    assert "custom method has no implementation" in message
    assert "runtime/custom/decision_records.py (every dialect)" in message
    assert "runtime/sqlite/custom/decision_records.py" in message


def test_a_shared_body_with_another_signature_is_refused(
    schema: SchemaIR, tmp_path: Path
) -> None:
    runtime = _runtime(tmp_path)
    path = runtime / "custom" / "decision_records.py"
    path.write_text(path.read_text().replace("offset: int = 0", "offset: int = 1"))
    with pytest.raises(SpecError, match="signature differs from the declaration"):
        check_custom(schema, runtime, SHOWN)


def test_a_sync_body_is_refused(schema: SchemaIR, tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    path = runtime / "custom" / "decision_records.py"
    path.write_text(
        path.read_text().replace("async def list_by_agent", "def list_by_agent")
    )
    with pytest.raises(SpecError, match="list_by_agent must be `async def`"):
        check_custom(schema, runtime, SHOWN)
