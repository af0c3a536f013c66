"""Imports come from what codecs, parameters and kinds declare they call.

``codegen.imports`` no longer searches rendered expressions for helper
names: each producer of an expression declares the runtime names it calls
(``Codec.uses``, ``ParamIR.uses``, ``EntityIR.uses``, as "module:name").
These tests hold the declarations honest: every call in every codec
template and every parameter binding of today's schema is declared, so a
new helper that is not declared fails here (and not as an ImportError in a
user's generated module).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from codegen.build import build
from codegen.ir import DIALECTS, EntityIR
from codegen.spec import load_schema

SCHEMA = Path(__file__).resolve().parents[2] / "schema"
# Calls of bare names: helper(...). Methods (x.value, x.astimezone) and
# builtins a generated module never imports are not runtime names.
CALL = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\(")
BUILTINS = {"None", "tuple", "int", "str", "float", "bool", "len"}


@pytest.fixture(scope="module")
def entities() -> tuple[EntityIR, ...]:
    return build(load_schema(SCHEMA)).entities


def _called(expr: str) -> set[str]:
    """Bare-name calls, less builtins and the module's own ``_params``..."""
    return {
        name
        for name in CALL.findall(expr)
        if name not in BUILTINS and not name.startswith("_")
    }


def _names(uses: frozenset[str]) -> set[str]:
    return {q.partition(":")[2] for q in uses}


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_every_codec_declares_what_it_calls(
    entities: tuple[EntityIR, ...], dialect: str
) -> None:
    missing = []
    for e in entities:
        for f in e.fields:
            codec = f.codec(dialect)
            called = _called(codec.encode) | _called(codec.decode)
            if "astimezone(UTC)" in codec.encode:
                called.add("UTC")
            if not called <= _names(codec.uses):
                missing.append((e.table, f.name, called - _names(codec.uses)))
    assert missing == []


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_every_binding_declares_what_it_calls(
    entities: tuple[EntityIR, ...], dialect: str
) -> None:
    missing = []
    for e in entities:
        declared = _names(e.uses)
        for f in e.fields:
            declared |= _names(f.codec(dialect).uses)
        for m in e.methods:
            if m.shape == "custom":
                continue
            here = set(declared)
            for p in m.params:
                here |= _names(p.uses.get(dialect, frozenset()))
            called = _called(m.bound(dialect))
            for p in m.params:
                called |= _called(p.bind(dialect))
            enums = {n for n in called if n in e.enum_names}
            if not called - enums <= here:
                missing.append((e.table, m.name, called - enums - here))
    assert missing == []


def test_an_undeclared_helper_is_caught() -> None:
    assert _called('arg_str(entity_id, "t.entity_id")') == {"arg_str"}
    assert _called("None if x is None else dt_to_text(x)") == {"dt_to_text"}
    assert _called("x.value") == set()
