"""``python -m codegen renumber``: this branch's revisions after a merged history.

Two branches that each change the schema each plan revision ``N+1`` from
the same recorded state; merging them leaves two revisions numbered ``N+1``
and a ``state.json`` git cannot merge (conflict markers), which ``generate``
refuses (:class:`codegen.migrations.HistoryError`). The way out:

1. The *base* is the branch merged in (``--onto main`` by default): its
   ``state.json`` is read from git (``git show main:generated/migrations/
   state.json``), or from a file (``--base-state``). Its revisions are kept
   byte for byte; each must be present and unchanged here.
2. *This branch's revisions* are the revision files here that the base does
   not record. Only they are touched: they are removed, ``state.json`` is
   reset to the base's, and ``generate`` plans the branch's changes again,
   from the base's state to the merged YAML, as the next revision (for a
   branch that added one entity: the same ``CREATE TABLE`` under the next
   number, ``0005_create_b``). They are planned again rather than renamed
   because a revision planned against the old base may rebuild a table the
   other branch changed (SQLite rebuilds copy a whole table definition).

Only revisions that no database has applied may be touched: the base's are
the ones on the main branch (deployed, kept); this branch's are not on it,
so at most a developer's local database has run them (recreate it). A
database that had applied a renumbered revision would refuse to start: its
``_synthorg_migrations`` records names and checksums, and the old name is
reported unknown (``migration_status``).
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from codegen.ir import DIALECTS
from codegen.migrations import STATE_FILE, MigrationPlanError, history_problems
from codegen.pipeline import generate


class RenumberError(MigrationPlanError):
    """The base history cannot be read, or this checkout lost part of it."""


@dataclass(frozen=True)
class Renumbered:
    """What :func:`renumber` did (paths relative to the generated folder)."""

    kept: tuple[str, ...]  # the base's revisions, untouched
    removed: tuple[str, ...]  # this branch's revisions, planned again
    added: tuple[str, ...]  # the revisions planned after the base
    changed: tuple[str, ...]  # every file generate wrote


def base_state_from_git(out_dir: Path, ref: str) -> str | None:
    """The text of ``<out>/migrations/state.json`` at ``ref`` (None if absent)."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args],
            cwd=out_dir,
            capture_output=True,
            text=True,
            check=False,
        )

    top = git("rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise RenumberError(
            f"{out_dir} is not in a git checkout ({top.stderr.strip()}); "
            "give the base's state.json with --base-state FILE"
        )
    rel = out_dir.resolve().relative_to(Path(top.stdout.strip()).resolve())
    path = (rel / STATE_FILE).as_posix()
    if git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        raise RenumberError(f"unknown git revision {ref!r}: name the branch you merged")
    shown = git("show", f"{ref}:{path}")
    if shown.returncode != 0:
        if git("cat-file", "-e", f"{ref}:{rel.as_posix()}").returncode == 0:
            return None  # the base has no migrations yet
        raise RenumberError(f"cannot read {path} at {ref!r}: {shown.stderr.strip()}")
    return shown.stdout


def _revision_files(out_dir: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for dialect in DIALECTS:
        folder = out_dir / "migrations" / dialect
        if folder.is_dir():
            for path in sorted(folder.glob("*.sql")):
                files[f"migrations/{dialect}/{path.name}"] = path.read_text("utf-8")
    return files


def renumber(
    schema_dir: Path,
    out_dir: Path,
    base_text: str | None,
    base_name: str,
    allow_destructive: bool = False,
) -> Renumbered:
    """Keep the base's revisions; plan this branch's again after them.

    ``base_text`` is the base's ``state.json`` (None: the base has no
    revisions). On any failure every file is restored as it was.
    """
    base_revisions: dict[str, str] = {}
    base_state_text = base_text
    if base_text is not None:
        problems, state = history_problems({}, base_text)
        if problems or state is None:
            raise RenumberError(
                f"the state.json of {base_name} is unusable: " + "; ".join(problems)
            )
        base_revisions = dict(state.get("revisions", {}))
    here = _revision_files(out_dir)
    lost: list[str] = []
    for path, checksum in sorted(base_revisions.items()):
        text = here.get(path)
        restore = f"git checkout {base_name} -- generated/{path}"
        if text is None:
            lost.append(f"generated/{path} of {base_name} is missing here ({restore})")
        elif hashlib.sha256(text.encode("utf-8")).hexdigest() != checksum:
            lost.append(f"generated/{path} differs from {base_name}'s ({restore})")
    if lost:
        raise RenumberError(
            "the merge lost revisions of the base; restore them first:\n  "
            + "\n  ".join(lost)
        )
    branch = sorted(set(here) - set(base_revisions))
    state_path = out_dir / STATE_FILE
    old_state = state_path.read_text("utf-8") if state_path.exists() else None
    try:
        for path in branch:
            (out_dir / path).unlink()
        if base_state_text is None:
            state_path.unlink(missing_ok=True)
        else:
            state_path.parent.mkdir(parents=True, exist_ok=True)
            state_path.write_text(base_state_text, encoding="utf-8")
        changed = generate(schema_dir, out_dir, allow_destructive)
    except BaseException:
        for path in set(_revision_files(out_dir)) - set(here):
            (out_dir / path).unlink()
        for path in branch:
            (out_dir / path).write_text(here[path], encoding="utf-8")
        if old_state is None:
            state_path.unlink(missing_ok=True)
        else:
            state_path.write_text(old_state, encoding="utf-8")
        raise
    after = _revision_files(out_dir)
    return Renumbered(
        kept=tuple(sorted(base_revisions)),
        removed=tuple(branch),
        added=tuple(sorted(set(after) - set(base_revisions))),
        changed=tuple(changed),
    )
