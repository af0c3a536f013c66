"""Plan the next migration revision from the last recorded schema state.

``generated/migrations/state.json`` records the structured schema state as
of the newest revision (:mod:`codegen.migration_state`) and the SHA-256 of
every revision. Planning diffs it with the state the current IR declares
(:mod:`codegen.migration_diff`, renames declared in the YAML, destructive
changes refused unless allowed) and renders the changes per dialect
(:mod:`codegen.migration_sql`) as revision ``N+1`` of both dialects.
Existing revisions are inputs, copied through unchanged and verified
against their recorded checksums, so a revision is never rewritten. A change
that needs no statement in either dialect (a default, ``str`` -> ``text``)
only updates the state.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from codegen.ir import DIALECTS, SchemaIR
from codegen.migration_diff import DestructiveChangeError, Planner
from codegen.migration_sql import FillError, render
from codegen.migration_state import (
    STATE_VERSION,
    StateError,
    desired_tables,
    upgrade_v1,
)

STATE_FILE = "migrations/state.json"
REVISION = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationPlanError(Exception):
    """The schema changed in a way the generator refuses or cannot express."""


@dataclass(frozen=True)
class History:
    """What ``generated/`` already holds: revisions and the recorded state."""

    revisions: dict[
        str, str
    ]  # relative path -> text, e.g. migrations/sqlite/0001_x.sql
    state: dict[str, Any] | None


def _meta(schema: SchemaIR) -> dict[str, dict[str, Any]]:
    """Per table: the YAML's evolution markers (renames, backfills, allowances)."""
    return {
        e.table: {
            "file": e.file,
            "renamed_from": e.renamed_from,
            "allow": e.allow_destructive,
            "fields": {
                f.name: {"renamed_from": f.renamed_from, "backfill": f.backfill}
                for f in e.fields
            },
        }
        for e in schema.entities_by_dependency
    }


def desired_state(schema: SchemaIR) -> dict[str, Any]:
    """The structured state the IR declares (without revision checksums)."""
    return {"version": STATE_VERSION, "tables": desired_tables(schema)}


def _recorded(history: History, desired: dict[str, Any]) -> dict[str, Any] | None:
    """The recorded state as version 2 (a version-1 state is upgraded)."""
    state = history.state
    if state is None:
        return None
    if state.get("version") == 1:
        try:
            return upgrade_v1(state, desired["tables"])
        except StateError as exc:
            raise MigrationPlanError(f"generated/{STATE_FILE}: {exc}") from None
    return state


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _verify_history(history: History) -> None:
    """Every revision is exactly as generated: none edited, lost or added."""
    recorded: dict[str, str] = {}
    if history.state is not None:
        if history.state.get("version") not in (1, STATE_VERSION):
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


def plan(
    schema: SchemaIR, history: History, allow_destructive: bool = False
) -> dict[str, str]:
    """Every migration file: existing revisions plus the next one if needed.

    ``allow_destructive`` allows every destructive change (the CLI's
    ``--allow-destructive``); otherwise each needs its YAML marker.
    """
    _verify_history(history)
    files = dict(history.revisions)
    new_state = desired_state(schema)
    old_state = _recorded(history, new_state)
    revisions = dict(old_state["revisions"]) if old_state is not None else {}
    planner = Planner(
        {} if old_state is None else old_state["tables"],
        new_state["tables"],
        _meta(schema),
        allow_destructive,
    )
    try:
        diffs, dropped = planner.run(schema.table_order)
        bodies = {d: render(diffs, dropped, d) for d in DIALECTS}
    except DestructiveChangeError as exc:
        raise MigrationPlanError(str(exc)) from None
    except FillError as exc:
        raise MigrationPlanError(f"a backfill or default: {exc}") from None
    if any(bodies.values()):
        numbers = sorted(
            int(m.group(1))
            for path in history.revisions
            if (m := REVISION.match(path.rsplit("/", 1)[-1]))
        )
        number = (numbers[-1] if numbers else 0) + 1
        summaries = [s for d in diffs for s in d.summary]
        summaries += [f"drop_{t}" for t in dropped]
        slug = (
            "initial"
            if old_state is None
            else "_".join(summaries)[:48].rstrip("_") or "update"
        )
        name = f"{number:04d}_{slug}.sql"
        for dialect in DIALECTS:
            header = (
                "-- Generated by `make generate` from schema/. "
                "Never edit an applied revision.\n"
                f"-- Revision {number:04d} ({dialect}).\n"
            )
            body = bodies[dialect] or [f"-- Nothing to change on {dialect}."]
            path = f"migrations/{dialect}/{name}"
            files[path] = header + "\n" + "\n\n".join(body) + "\n"
            revisions[path] = _checksum(files[path])
    new_state["revisions"] = dict(sorted(revisions.items()))
    files[STATE_FILE] = _dump(new_state)
    return files


def _dump(state: dict[str, Any]) -> str:
    return json.dumps(state, indent=2, sort_keys=True) + "\n"
