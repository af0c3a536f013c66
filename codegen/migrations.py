"""Plan the next migration revision from the last recorded schema state.

``generated/migrations/state.json`` records the structured schema state as
of the newest revision (:mod:`codegen.migration_state`) and the SHA-256 of
every revision. Planning diffs it with the state the current IR declares
(:mod:`codegen.migration_diff`, renames declared in the YAML, destructive
changes refused unless allowed) and renders the changes per dialect
(:mod:`codegen.migration_sql`) as revision ``N+1`` of every dialect.
Existing revisions are inputs, copied through unchanged and verified
against their recorded checksums, so a revision is never rewritten. A change
that needs no statement in either dialect (a default, ``str`` -> ``text``)
only updates the state.

The history is kept per dialect: a dialect joins it when its first revision
is written. A dialect added to the registry after the history began gets a
first revision that creates every table as the schema now declares it
(numbered ``N+1`` like everyone's next revision; the others' ``N+1`` holds
their own changes, or nothing), and its revisions start there.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codegen.ir import DIALECTS, SchemaIR
from codegen.migration_diff import DestructiveChangeError, Planner
from codegen.migration_sql import FillError, render
from codegen.migration_state import (
    STATE_VERSION,
    StateError,
    desired_tables,
    project,
    upgrade_v1,
)

STATE_FILE = "migrations/state.json"
REVISION = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
CONFLICT_MARKER = re.compile(r"^(<{7}|={7}|>{7}|\|{7})(?: |$)", re.MULTILINE)
RENUMBER = (
    "run `python -m codegen renumber --onto <the branch you merged, e.g. main>` "
    '(docs/migrations.md, "Parallel branches")'
)


class MigrationPlanError(Exception):
    """The schema changed in a way the generator refuses or cannot express."""


class HistoryError(MigrationPlanError):
    """``generated/migrations`` is inconsistent, typically after a git merge.

    ``problems`` holds one message per problem, each naming its file(s) and
    what to do.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        if len(problems) == 1:
            text = problems[0]
        else:
            text = f"{len(problems)} problems in generated/migrations:\n" + "\n".join(
                f"  {i}. {p}" for i, p in enumerate(problems, 1)
            )
        super().__init__(text)


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


def _joining(old_state: dict[str, Any] | None) -> set[str]:
    """Dialects with no revision yet in a history that has begun."""
    if old_state is None:
        return set()
    started = {path.split("/")[1] for path in old_state.get("revisions", {})}
    return set(DIALECTS) - started if started else set()


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _verify_history(history: History) -> None:
    """Every revision is exactly as generated: none edited, lost or added."""
    problems = _verify_problems(history)
    if problems:
        raise HistoryError(problems)


def _verify_problems(history: History) -> list[str]:
    recorded: dict[str, str] = {}
    if history.state is not None:
        if history.state.get("version") not in (1, STATE_VERSION):
            return [f"generated/{STATE_FILE}: unknown state version"]
        recorded = history.state.get("revisions", {})
    problems: list[str] = []
    for path, checksum in sorted(recorded.items()):
        text = history.revisions.get(path)
        if text is None:
            problems.append(
                f"generated/{path} is missing: revisions are never deleted "
                "(restore it from version control)"
            )
        elif _checksum(text) != checksum:
            problems.append(
                f"generated/{path} was edited after it was generated: revisions "
                "are never rewritten (restore it from version control and change "
                "the YAML instead)"
            )
    problems.extend(
        f"generated/{path} is not a generated revision (it is not recorded in "
        f"generated/{STATE_FILE}): if it came with a merge, {RENUMBER}; "
        "if it was written by hand, remove it"
        for path in sorted(set(history.revisions) - set(recorded))
    )
    return problems


def history_problems(
    revisions: dict[str, str], state_text: str | None
) -> tuple[list[str], dict[str, Any] | None]:
    """Problems of the files under ``generated/migrations`` and the parsed state.

    Detects what a merge of two branches leaves behind: a state.json with
    git conflict markers (or otherwise unreadable), two revisions with one
    number, a revision in one dialect only.
    """
    problems: list[str] = []
    state: dict[str, Any] | None = None
    if state_text is not None:
        if CONFLICT_MARKER.search(state_text):
            problems.append(
                f"generated/{STATE_FILE} has git conflict markers: two branches "
                "each changed the schema and git merged its recorded state line "
                f"by line. Do not resolve it by hand: {RENUMBER}; it keeps that "
                "branch's revisions and plans this branch's after them"
            )
        else:
            try:
                parsed = json.loads(state_text)
            except json.JSONDecodeError as exc:
                problems.append(
                    f"generated/{STATE_FILE} is not valid JSON (line {exc.lineno}, "
                    f"column {exc.colno}: {exc.msg}): restore it from version "
                    f"control, or after a merge {RENUMBER}"
                )
            else:
                if isinstance(parsed, dict):
                    state = parsed
                else:
                    problems.append(
                        f"generated/{STATE_FILE} is not a JSON object: restore it "
                        "from version control"
                    )
    names: dict[str, set[str]] = {d: set() for d in DIALECTS}
    numbered: dict[tuple[str, int], list[str]] = defaultdict(list)
    for path in sorted(revisions):
        dialect, name = path.removeprefix("migrations/").split("/", 1)
        m = REVISION.match(name)
        if m is None:
            problems.append(
                f"generated/{path} is not named NNNN_name.sql: remove it "
                "(revisions are generated)"
            )
            continue
        names.setdefault(dialect, set()).add(name)
        numbered[(dialect, int(m.group(1)))].append(name)
    for (dialect, number), files in sorted(numbered.items()):
        if len(files) > 1:
            problems.append(
                f"generated/migrations/{dialect}/ has {len(files)} revisions "
                f"numbered {number:04d} ({', '.join(files)}): two branches each "
                f"added one; {RENUMBER}"
            )
    # A dialect that joined the history later lacks the revisions before its
    # first one: only a revision from both dialects' first on must pair up.
    start = {d: min(int(n[:4]) for n in found) for d, found in names.items() if found}
    first, *others = DIALECTS
    for other in others:
        for name in sorted(names[first] ^ names[other]):
            has, lacks = (first, other) if name in names[first] else (other, first)
            if lacks not in start or int(name[:4]) < start[lacks]:
                continue
            problems.append(
                f"generated/migrations/{has}/{name} has no counterpart in "
                f"generated/migrations/{lacks}/: every revision exists in both "
                "dialects; restore the missing one from version control"
            )
    return problems, state


def read_history(out_dir: Path) -> History:
    """The revisions and recorded state in ``out_dir``; HistoryError if unusable."""
    revisions: dict[str, str] = {}
    for dialect in DIALECTS:
        folder = out_dir / "migrations" / dialect
        if folder.is_dir():
            for path in sorted(folder.glob("*.sql")):
                revisions[f"migrations/{dialect}/{path.name}"] = path.read_text(
                    encoding="utf-8"
                )
    state_path = out_dir / STATE_FILE
    text = state_path.read_text(encoding="utf-8") if state_path.exists() else None
    problems, state = history_problems(revisions, text)
    history = History(revisions=revisions, state=state)
    if state is not None or text is None:
        problems += _verify_problems(history)
    if problems:
        raise HistoryError(problems)
    return history


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
        project(new_state["tables"], set(DIALECTS) - _joining(old_state)),
        _meta(schema),
        allow_destructive,
    )
    joining = _joining(old_state)
    try:
        diffs, dropped = planner.run(schema.table_order)
        bodies = {d: render(diffs, dropped, d) for d in DIALECTS if d not in joining}
        if joining:
            # A dialect joining the history starts from an empty database.
            fresh = Planner({}, new_state["tables"], _meta(schema), True)
            created, _ = fresh.run(schema.table_order)
            bodies.update({d: render(created, [], d) for d in joining})
    except DestructiveChangeError as exc:
        hints = rename_hints(planner, schema)
        raise MigrationPlanError(
            str(exc) + "".join(f"\n  hint: {h}" for h in hints)
        ) from None
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
        summaries += [f"join_{d}" for d in sorted(joining)]
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


def rename_hints(planner: Planner, schema: SchemaIR) -> list[str]:
    """Renames a refused change looks like, to declare with ``renamed_from``.

    A column that disappears while one of the same kind appears in the same
    table, or a table that disappears while one with the same columns
    appears, is more likely a rename than a drop plus an add.
    """
    files = {e.table: e.file for e in schema.entities_by_dependency}
    hints: list[str] = []
    for table in schema.table_order:
        old = planner.mapped_old(table)
        if old is None or table not in planner.new:
            continue
        before = {c["name"]: c for c in old["columns"]}
        after = {c["name"]: c for c in planner.new[table]["columns"]}
        gone = [n for n in before if n not in after]
        came = [n for n in after if n not in before]
        for name in gone:
            kind = (before[name]["kind"], before[name]["enum"])
            same = [n for n in came if (after[n]["kind"], after[n]["enum"]) == kind]
            for new in same:
                hints.append(
                    f"column {name!r} of table {table!r} disappears and {new!r} of "
                    f"the same type ({before[name]['enum'] or kind[0]}) appears: if "
                    f"it is a rename, add `renamed_from: {name}` under "
                    f"fields.{new} in {files.get(table, 'the schema')}"
                )
    renamed = set(planner.tables)
    gone_tables = [t for t in planner.old if t not in planner.new and t not in renamed]
    created = [t for t in planner.new if t not in planner.old]
    for name in gone_tables:
        columns = {c["name"] for c in planner.old[name]["columns"]}
        for new in created:
            if {c["name"] for c in planner.new[new]["columns"]} == columns:
                hints.append(
                    f"table {name!r} disappears and {new!r} with the same columns "
                    f"appears: if it is a rename, add `renamed_from: {name}` at the "
                    f"top of {files.get(new, 'its schema file')}"
                )
    return hints


def _dump(state: dict[str, Any]) -> str:
    return json.dumps(state, indent=2, sort_keys=True) + "\n"
