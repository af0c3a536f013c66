"""Plan the next migration revision from the last recorded schema state.

``generated/migrations/state.json`` records, per dialect, the DDL of every
table and index as of the newest revision. Planning compares it with the
DDL the current IR asks for; when they differ it writes revision ``N+1`` for
both dialects and the new state. Existing revisions are inputs, copied
through unchanged, so a revision is never rewritten.

Supported today: new tables (with their indexes), new indexes, dropped
indexes. Changing or dropping an existing table stops generation with a
message naming the change; column-level evolution extends this module.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from codegen.ir import DIALECTS, SchemaIR

STATE_FILE = "migrations/state.json"
REVISION = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
STATE_VERSION = 1


class MigrationPlanError(Exception):
    """The schema changed in a way the generator refuses or cannot express."""


@dataclass(frozen=True)
class History:
    """What ``generated/`` already holds: revisions and the recorded state."""

    revisions: dict[
        str, str
    ]  # relative path -> text, e.g. migrations/sqlite/0001_x.sql
    state: dict[str, Any] | None


def desired_state(schema: SchemaIR) -> dict[str, Any]:
    """The DDL of every table and index, per dialect, as the IR declares it."""
    dialects: dict[str, Any] = {}
    for dialect in DIALECTS:
        tables: dict[str, Any] = {}
        for e in schema.entities_by_dependency:
            ddl = e.ddl[dialect]
            tables[e.table] = {
                "create": ddl.create_table,
                "indexes": {
                    ix.name: sql
                    for ix, sql in zip(e.indexes, ddl.create_indexes, strict=True)
                },
            }
        dialects[dialect] = {"tables": dict(sorted(tables.items()))}
    return {"version": STATE_VERSION, "dialects": dialects}


def _diff(
    old: dict[str, Any], new: dict[str, Any], table_order: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """(statements, change summaries) turning ``old`` tables into ``new``."""
    statements: list[str] = []
    changes: list[str] = []
    for table in sorted(set(old) - set(new)):
        raise MigrationPlanError(
            f"table {table!r} was removed from the schema: dropping a table is "
            "destructive and is refused"
        )
    for table in table_order:  # referenced tables are created first
        spec = new[table]
        before = old.get(table)
        if before is None:
            statements.append(spec["create"] + ";")
            statements.extend(sql + ";" for _, sql in sorted(spec["indexes"].items()))
            changes.append(f"create_{table}")
            continue
        if before["create"] != spec["create"]:
            raise MigrationPlanError(
                f"table {table!r} changed: altering an existing table's columns or "
                "constraints is not supported by the migration generator yet"
            )
        old_ix, new_ix = before["indexes"], spec["indexes"]
        for name in sorted(old_ix):
            if old_ix[name] != new_ix.get(name):
                statements.append(f'DROP INDEX IF EXISTS "{name}";')
                changes.append(f"drop_{name}")
        for name in sorted(new_ix):
            if old_ix.get(name) != new_ix[name]:
                statements.append(new_ix[name] + ";")
                changes.append(f"index_{name}")
    return statements, changes


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _verify_history(history: History) -> None:
    """Every revision is exactly as generated: none edited, lost or added."""
    recorded: dict[str, str] = {}
    if history.state is not None:
        if history.state.get("version") != STATE_VERSION:
            raise MigrationPlanError(f"generated/{STATE_FILE}: unknown state version")
        recorded = history.state.get("revisions", {})
    for path, checksum in sorted(recorded.items()):
        text = history.revisions.get(path)
        if text is None:
            raise MigrationPlanError(
                f"generated/{path} is missing: revisions are never deleted "
                "(restore it from version control)"
            )
        if _checksum(text) != checksum:
            raise MigrationPlanError(
                f"generated/{path} was edited after it was generated: revisions "
                "are never rewritten (restore it from version control and change "
                "the YAML instead)"
            )
    for path in sorted(set(history.revisions) - set(recorded)):
        raise MigrationPlanError(
            f"generated/{path} is not a generated revision (it is not recorded in "
            f"generated/{STATE_FILE}); remove it"
        )


def plan(schema: SchemaIR, history: History) -> dict[str, str]:
    """Every migration file: existing revisions plus the next one if needed."""
    _verify_history(history)
    files = dict(history.revisions)
    new_state = desired_state(schema)
    old_state = history.state
    if old_state is not None and old_state["dialects"] == new_state["dialects"]:
        new_state["revisions"] = old_state["revisions"]
        files[STATE_FILE] = _dump(new_state)
        return files

    numbers = sorted(
        {
            int(m.group(1))
            for path in history.revisions
            if (m := REVISION.match(path.rsplit("/", 1)[-1]))
        }
    )
    number = (numbers[-1] if numbers else 0) + 1
    summaries: list[str] = []
    bodies: dict[str, list[str]] = {}
    for dialect in DIALECTS:
        old_tables = (
            {} if old_state is None else old_state["dialects"][dialect]["tables"]
        )
        statements, changes = _diff(
            old_tables, new_state["dialects"][dialect]["tables"], schema.table_order
        )
        bodies[dialect] = statements
        summaries = summaries or changes
    slug = (
        "initial"
        if old_state is None
        else "_".join(summaries)[:48].rstrip("_") or "update"
    )
    name = f"{number:04d}_{slug}.sql"
    revisions = dict(old_state["revisions"]) if old_state is not None else {}
    for dialect in DIALECTS:
        header = (
            "-- Generated by `make generate` from schema/. "
            "Never edit an applied revision.\n"
            f"-- Revision {number:04d} ({dialect}).\n"
        )
        path = f"migrations/{dialect}/{name}"
        files[path] = header + "\n" + "\n\n".join(bodies[dialect]) + "\n"
        revisions[path] = _checksum(files[path])
    new_state["revisions"] = dict(sorted(revisions.items()))
    files[STATE_FILE] = _dump(new_state)
    return files


def _dump(state: dict[str, Any]) -> str:
    return json.dumps(state, indent=2, sort_keys=True) + "\n"
