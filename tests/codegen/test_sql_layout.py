"""The layout of generated SQL: clauses on their own lines, statements unchanged.

Generated repositories show every statement multi-line above its method;
only whitespace may differ from the statement the IR holds, and the inside
of a string literal or quoted identifier is never re-flowed.
"""

from __future__ import annotations

import ast

import pytest

from codegen.build import build
from codegen.ir import DIALECTS
from codegen.spec import load_schema
from codegen.sql_layout import layout, same_statement, sql_block
from tests.codegen._support import ROOT


def _sql_texts() -> list[str]:
    schema = build(load_schema(ROOT / "schema"))
    texts: list[str] = []
    for e in schema.entities:
        for dialect in DIALECTS:
            for c in e.sql_consts[dialect]:
                texts += [c.sql] if c.sql else [c.prefix, c.suffix]
    return [t for t in texts if t]


def test_every_statement_of_the_schema_keeps_its_text_modulo_whitespace() -> None:
    texts = _sql_texts()
    assert len(texts) > 700
    for sql in texts:
        literal = sql_block(sql, 8)
        value = ast.literal_eval(literal)
        assert same_statement(value, sql)
        assert " ".join(value.split()).replace("( ", "(").replace(" )", ")") == (
            " ".join(sql.split())
        )


def test_clauses_go_on_their_own_lines() -> None:
    sql = (
        'SELECT "a", "b" FROM "t" WHERE "a" = ? AND "b" IN (SELECT value FROM '
        'json_each(?)) ORDER BY "a" DESC, "b" LIMIT ? OFFSET ?'
    )
    assert layout(sql) == [
        'SELECT "a", "b"',
        'FROM "t"',
        'WHERE "a" = ? AND "b" IN (SELECT value FROM json_each(?))',
        'ORDER BY "a" DESC, "b"',
        "LIMIT ? OFFSET ?",
    ]


def test_upsert_assignments_one_per_line() -> None:
    sql = (
        'INSERT INTO "t" ("id", "x", "y") VALUES (?, ?, ?) ON CONFLICT ("id") '
        'DO UPDATE SET "x" = excluded."x", "y" = excluded."y" RETURNING 1'
    )
    assert layout(sql) == [
        'INSERT INTO "t" ("id", "x", "y")',
        "VALUES (?, ?, ?)",
        'ON CONFLICT ("id")',
        "DO UPDATE SET",
        '    "x" = excluded."x",',
        '    "y" = excluded."y"',
        "RETURNING 1",
    ]


def test_string_literals_and_quoted_names_are_never_split() -> None:
    sql = (
        'UPDATE "t" SET "s" = \'a, FROM b WHERE c\', "n" = ? '
        'WHERE "odd, name" = \'x AND y\' AND "k" = ?'
    )
    lines = layout(sql)
    assert lines == [
        'UPDATE "t"',
        "SET",
        "    \"s\" = 'a, FROM b WHERE c',",
        '    "n" = ?',
        'WHERE "odd, name" = \'x AND y\' AND "k" = ?',
    ]
    assert same_statement("\n".join(lines), sql)


def test_long_lists_wrap_inside_the_width() -> None:
    cols = ", ".join(f'"column_{i}"' for i in range(30))
    lines = layout(f'SELECT {cols} FROM "t"', indent=" " * 8)
    assert lines[0] == "SELECT"
    assert lines[-1] == 'FROM "t"'
    assert all(8 + len(line) <= 88 for line in lines)
    long_where = " AND ".join(f'"column_{i}" = ?' for i in range(10))
    where = layout(f'DELETE FROM "t" WHERE {long_where}')
    assert where[1] == 'WHERE "column_0" = ?'
    assert where[2] == '    AND "column_1" = ?'


def test_block_is_a_triple_quoted_literal_of_the_same_statement() -> None:
    sql = 'SELECT "a" FROM "t" ORDER BY "a"'
    block = sql_block(sql, 8)
    assert (
        block
        == '"""\n        SELECT "a"\n        FROM "t"\n        ORDER BY "a"\n    """'
    )
    assert same_statement(ast.literal_eval(block), sql)
    # Text a triple-quoted literal cannot hold verbatim stays an ordinary one.
    odd = "SELECT '\\' FROM \"t\""
    assert ast.literal_eval(sql_block(odd, 8)) == odd


def test_an_unterminated_quote_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot lay out"):
        layout('SELECT \'oops FROM "t"')
