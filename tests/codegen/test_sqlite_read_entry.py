"""Which SQLite reads may run on the loop thread: the generator's rule.

``codegen.dialects.sqlite.read_entry`` picks each read's ``Connections``
entry point. These tests hold the rule on every read of the real schema:
an entry that tries the loop thread is only chosen for a statement whose
result is bounded (a point lookup, a ``LIMIT``, a single value over a
parameter-bound range); unbounded lists stay on the reader thread; and the
generated SQLite modules call exactly the entry the rule chose.
"""

from __future__ import annotations

import re

import pytest

from codegen import pipeline
from codegen.dialects.sqlite import read_entry
from codegen.ir import MethodIR, SchemaIR
from tests.codegen._support import ROOT

READS = ("read_point", "read_range", "read_page", "read")


@pytest.fixture(scope="module")
def schema() -> SchemaIR:
    return pipeline.build_ir(pipeline.load(ROOT / "schema"))


def _reads(schema: SchemaIR) -> list[tuple[str, str, MethodIR, str]]:
    """(accessor, method, IR, SQL of its first constant) of every plain read."""
    out = []
    for e in schema.entities:
        sql = {c.name: c.sql or c.prefix + c.suffix for c in e.sql_consts["sqlite"]}
        for m in e.methods:
            if m.write or m.shape in ("custom", "batch", "entity") or not m.consts:
                continue
            if m.decode == "created" or m.protect:
                continue
            out.append((e.accessor, m.name, m, sql.get(m.consts[0], "")))
    return out


def test_inline_entries_only_for_bounded_statements(schema: SchemaIR) -> None:
    chosen: dict[str, int] = dict.fromkeys(READS, 0)
    for accessor, name, m, sql in _reads(schema):
        entry = read_entry(m)
        chosen[entry] += 1
        where = f"{accessor}.{name}: {entry}"
        if entry == "read_page":
            assert "LIMIT" in sql, where
        elif entry == "read_point":
            assert m.shape == "one" and not m.mask, where
        elif entry == "read_range":
            assert m.shape == "value" and (m.params or m.mask), where
        if m.shape == "many" and m.paged == "none":
            assert entry == "read", where
    # The real schema exercises every entry point.
    assert all(chosen.values()), chosen


def test_generated_modules_call_the_chosen_entry(schema: SchemaIR) -> None:
    for e in schema.entities:
        text = (ROOT / "generated" / "sqlite" / f"{e.module}.py").read_text()
        for m in e.methods:
            if m.write or m.shape not in ("one", "many", "value", "column"):
                continue
            body = text.split(f"    async def {m.name}(", 1)[1]
            body = body.split("\n    async def ", 1)[0]
            called = re.findall(r"self\._conns\.(read\w*)\(", body)
            assert called[:1] == [read_entry(m)], f"{e.accessor}.{m.name}: {called}"
