"""The structured schema state that migration planning diffs.

``generated/migrations/state.json`` (version 2) records, per table, what the
schema declared as of the newest revision:

* ``columns``: name, field kind (``str``, ``int``, ``enum`` ...), enum name,
  nullability, the YAML default, and the column type of each dialect;
* ``primary_key``, ``foreign_keys`` (name -> column, target, on_delete),
  ``checks`` (name -> column, a structured ``rule`` the planner reasons
  about, and the SQL of each dialect that has it), ``indexes`` (name ->
  columns, unique, partial predicate);
* ``rendered``: the CREATE TABLE and CREATE INDEX text of each dialect.

Check rules are the IR's typed :class:`~codegen.ir.CheckRule` values and
index columns its typed ``(name, direction)`` pairs, recorded in the same
JSON as before (index columns as their SQL fragments). Everything is
derived from the IR here (a pure function); version-1 states
(DDL text only) are upgraded deterministically by :func:`upgrade_v1`.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import Any

from codegen.ir import DIALECTS, CheckRule, EntityIR, SchemaIR
from codegen.migration_types import Table

STATE_VERSION = 2


class StateError(Exception):
    """The recorded state cannot be read or upgraded."""


def entity_state(e: EntityIR) -> Table:
    """The structured state of one table."""
    columns = [
        {
            "name": f.name,
            "kind": f.kind,
            "enum": f.enum,
            "nullable": f.optional,
            "default": f.default_value,
            "type": {d: f.codec(d).column_type for d in DIALECTS},
        }
        for f in e.fields
    ]
    checks: dict[str, Any] = {}
    for f in e.fields:
        for check in f.checks:
            sql = {d: dict(f.codec(d).checks).get(check.name) for d in DIALECTS}
            checks[check.name] = {
                "column": check.column,
                "rule": check.rule.state(),
                "sql": {d: text for d, text in sql.items() if text is not None},
            }
    for a, b in e.differ:
        rule = CheckRule("differs", columns=(a, b))
        checks[f"ck_{e.table}_{a}_differs"] = {
            "column": None,
            "rule": rule.state(),
            "sql": {d: DIALECTS[d].check_sql(rule, "") for d in DIALECTS},
        }
    return {
        "columns": columns,
        "primary_key": [f.name for f in e.key],
        "foreign_keys": {
            fk.name: {
                "column": fk.column,
                "table": fk.table,
                "target": fk.target,
                "on_delete": fk.on_delete,
            }
            for fk in sorted(e.foreign_keys, key=lambda fk: fk.name)
        },
        "checks": dict(sorted(checks.items())),
        "indexes": {
            ix.name: {
                "columns": [c.sql for c in ix.columns],
                "unique": ix.unique,
                "where": ix.where,
            }
            for ix in sorted(e.indexes, key=lambda ix: ix.name)
        },
        "rendered": {
            d: {
                "create": e.ddl[d].create_table,
                "indexes": {
                    ix.name: sql
                    for ix, sql in sorted(
                        zip(e.indexes, e.ddl[d].create_indexes, strict=True),
                        key=lambda pair: pair[0].name,
                    )
                },
            }
            for d in DIALECTS
        },
    }


def project(tables: dict[str, Table], dialects: Collection[str]) -> dict[str, Table]:
    """``tables`` as only ``dialects`` see them.

    Planning the next revision of the dialects already in the history must
    not see a dialect that is joining it (its column types, its own checks,
    its DDL): those would read as changes to every table.
    """
    if all(set(t["rendered"]) <= set(dialects) for t in tables.values()):
        return tables
    out = copy.deepcopy(tables)
    for table in out.values():
        for column in table["columns"]:
            column["type"] = {d: v for d, v in column["type"].items() if d in dialects}
        checks = {}
        for name, check in table["checks"].items():
            check["sql"] = {d: v for d, v in check["sql"].items() if d in dialects}
            if check["sql"]:
                checks[name] = check
        table["checks"] = checks
        table["rendered"] = {
            d: v for d, v in table["rendered"].items() if d in dialects
        }
    return out


def desired_tables(schema: SchemaIR) -> dict[str, Table]:
    """Every table's structured state as the IR declares it, sorted by name."""
    tables = {e.table: entity_state(e) for e in schema.entities_by_dependency}
    return dict(sorted(tables.items()))


def upgrade_v1(old: dict[str, Any], desired: dict[str, Table]) -> dict[str, Any]:
    """A version-1 state (DDL text per dialect) as version 2.

    Version 1 refused any change to an existing table, so each table it
    recorded still renders identically from the YAML: its structured entry
    is the IR's. A table whose text differs means the YAML changed before
    the upgrade; regenerate at the commit that wrote the state first.
    """
    tables: dict[str, Table] = {}
    for dialect in DIALECTS:
        if dialect not in old["dialects"]:
            continue  # a dialect added since joins with its own first revision
        for name, recorded in old["dialects"][dialect]["tables"].items():
            current = desired.get(name)
            rendered = None if current is None else current["rendered"][dialect]
            if rendered != recorded:
                raise StateError(
                    f"state.json (version 1) records table {name!r} as it was "
                    "before the YAML changed; run `make generate` at the commit "
                    "that last wrote it (to record the version-2 state), then "
                    "apply the YAML change"
                )
            assert current is not None
            tables[name] = current
    return {
        "version": STATE_VERSION,
        "revisions": old.get("revisions", {}),
        "tables": dict(sorted(tables.items())),
    }
