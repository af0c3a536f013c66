"""The method kinds keep their rooms: one module each, templates on shapes.

Every module of ``codegen/kinds`` (not starting with ``_``) is a kind named
after its file, with a strict spec model, a builder and a shape from the
closed set; the repository templates switch on shapes and the data of the
IR, never on a kind's name; the IR, the manifest and the docs use the YAML
kind names.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from codegen.kinds import KINDS, MethodSpec
from codegen.shapes import SHAPES
from codegen.spec import RepositorySpec

KINDS_DIR = Path(__file__).resolve().parents[2] / "codegen" / "kinds"
TEMPLATES = KINDS_DIR.parent / "templates"


def test_every_module_is_a_kind() -> None:
    modules = {p.stem for p in KINDS_DIR.glob("*.py") if not p.stem.startswith("_")}
    assert modules == set(KINDS)
    assert {"lookup", "delete", "compare_and_set", "exists"} <= modules


@pytest.mark.parametrize("name", sorted(KINDS))
def test_kind_declares_its_parts(name: str) -> None:
    kind = KINDS[name]
    assert kind.doc, f"codegen/kinds/{name}.py opens with a docstring"
    assert kind.shape in SHAPES
    assert kind.spec.model_config.get("extra") == "forbid"
    assert kind.spec.model_fields["kind"].annotation.__args__ == (name,)  # type: ignore[union-attr]


def test_templates_branch_on_shapes_not_kinds() -> None:
    for name in (
        "_methods.j2",
        "repository.py.j2",
        "repository_sqlite.py.j2",
        "repository_postgres.py.j2",
    ):
        text = (TEMPLATES / name).read_text(encoding="utf-8")
        assert not re.search(r"\bm\.kind\b", text), name
        assert not re.search(r'methods \| selectattr\("kind"', text), name


def test_a_key_of_another_kind_is_refused() -> None:
    base = {"kinds": ["id_keyed"], "key": ["id"], "order": ["id"]}
    lookup = {"kind": "lookup", "by": ["code"]}
    RepositorySpec.model_validate({**base, "methods": {"m": lookup}})
    for key, value in (("sum", "amount"), ("version", "v"), ("returning", "id")):
        with pytest.raises(ValidationError) as info:
            RepositorySpec.model_validate(
                {**base, "methods": {"m": {**lookup, key: value}}}
            )
        (error,) = info.value.errors()
        assert error["type"] == "extra_forbidden"
        assert error["loc"][-2:] == ("lookup", key)


def test_method_spec_is_discriminated_by_kind() -> None:
    assert "discriminator='kind'" in repr(MethodSpec)
