"""The generator's stages, in order, as one readable sequence.

``schema/*.yaml`` goes through seven stages; each is a function below that
says what it consumes and what it produces::

    load            schema folder        -> LoadedSchema   (codegen.spec)
    build_ir        LoadedSchema         -> SchemaIR       (codegen.build)
    check_bodies    SchemaIR + runtime   -> nothing, or SpecError (codegen.custom)
    plan_migrations SchemaIR + generated -> migration files (codegen.migrations)
    render          SchemaIR + plan      -> {path: text}   (codegen.render)
    format          {path: text}         -> {path: text}   (codegen.formatting)
    write / check   {path: text} + disk  -> changed paths / problems (codegen.output)

:func:`render_outputs` runs the first six (what the golden tests compare);
:func:`generate` and :func:`check` add the last. Only the plan stage reads
the existing ``generated/`` (its migration history) and only the last
stage writes; rendering is pure. :mod:`codegen.cli` (``python -m codegen``,
``make generate``, the ``synthorg-persistence`` schema verbs) and
:mod:`codegen.renumber` call this module; it never imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from codegen import migrations, output, render
from codegen.build import build
from codegen.custom import check_custom
from codegen.formatting import format_python
from codegen.ir import SchemaIR
from codegen.render import Shared
from codegen.spec import LoadedSchema, load_schema

RUNTIME = Path(__file__).resolve().parent.parent / "src" / "synthorg" / "persistence"


@dataclass(frozen=True)
class Outputs:
    """What one run produces: ``generated/`` files and ``docs/`` pages."""

    files: dict[str, str]  # path relative to generated/ -> text
    pages: dict[str, str]  # name of a generated page of docs/ -> text


def load(schema_dir: Path) -> LoadedSchema:
    """Stage 1. Consumes the schema folder; produces the validated specs.

    Every YAML file is read and validated before anything is raised, so a
    :class:`codegen.spec.SpecErrors` lists every problem of every file.
    """
    return load_schema(schema_dir)


def build_ir(spec: LoadedSchema) -> SchemaIR:
    """Stage 2. Consumes the specs; produces the IR, every decision made."""
    return build(spec)


def check_bodies(schema: SchemaIR, runtime_dir: Path = RUNTIME) -> Shared:
    """Stage 3. Consumes the IR; checks each custom method has its body.

    A ``custom`` method's hand-written body, in ``<dialect>/custom/<module>.py``
    or once for every dialect in ``custom/<module>.py`` under ``runtime_dir``,
    must exist with the declared signature (SpecError if not). Produces, per
    dialect, the bodies that are the shared ones.
    """
    shown = (
        "src/synthorg/persistence"
        if runtime_dir == RUNTIME
        else f"{runtime_dir.parent.name}/{runtime_dir.name}"
    )
    return check_custom(schema, runtime_dir, shown)


def plan_migrations(
    schema: SchemaIR, out_dir: Path, allow_destructive: bool = False
) -> dict[str, str]:
    """Stage 4. Consumes the IR and ``out_dir``'s history; produces revisions.

    The only stage that reads ``generated/``: its revisions and
    ``migrations/state.json`` (HistoryError when a merge left them
    inconsistent). Returns every migration file: the existing revisions,
    the next one when the schema changed, and the new state.
    """
    history = migrations.read_history(out_dir)
    return migrations.plan(schema, history, allow_destructive)


def render_files(
    schema: SchemaIR, planned: dict[str, str], shared: Shared | None = None
) -> Outputs:
    """Stage 5. Consumes the IR, the plan and the shared custom bodies;
    produces unformatted outputs."""
    files = render.render_ir(schema, shared)
    files.update(planned)
    return Outputs(dict(sorted(files.items())), render.render_docs(schema, shared))


def format_outputs(outputs: Outputs) -> Outputs:
    """Stage 6. Consumes rendered outputs; produces them with Python formatted."""
    return Outputs(format_python(outputs.files), outputs.pages)


def render_outputs(
    schema_dir: Path,
    out_dir: Path,
    runtime_dir: Path = RUNTIME,
    allow_destructive: bool = False,
) -> tuple[dict[str, str], dict[str, str]]:
    """Stages 1-6: the files of ``generated/`` and the pages of ``docs/``.

    ``out_dir`` is only read (for its migration history); ``runtime_dir`` is
    where custom bodies are checked; ``allow_destructive`` allows every
    destructive schema change in the next migration revision.
    """
    spec = load(schema_dir)
    schema = build_ir(spec)
    shared = check_bodies(schema, runtime_dir)
    planned = plan_migrations(schema, out_dir, allow_destructive)
    outputs = format_outputs(render_files(schema, planned, shared))
    return outputs.files, outputs.pages


def render_schema(
    schema_dir: Path,
    out_dir: Path,
    runtime_dir: Path = RUNTIME,
    allow_destructive: bool = False,
) -> dict[str, str]:
    """The files of ``generated/`` only (see :func:`render_outputs`)."""
    return render_outputs(schema_dir, out_dir, runtime_dir, allow_destructive)[0]


def generate(
    schema_dir: Path,
    out_dir: Path,
    allow_destructive: bool = False,
    docs_dir: Path | None = None,
) -> list[str]:
    """Stages 1-6, then 7 (write); returns the paths that changed.

    Paths are relative to ``out_dir``; a generated page of ``docs_dir``
    (default: the project's ``docs/`` for the project's ``generated/``,
    else none) is named ``docs/<name>``.
    """
    files, pages = render_outputs(
        schema_dir, out_dir, allow_destructive=allow_destructive
    )
    return output.write(files, pages, schema_dir, out_dir, docs_dir)


def check(schema_dir: Path, out_dir: Path, docs_dir: Path | None = None) -> list[str]:
    """Stages 1-6, then 7 (check): problems of ``out_dir`` (empty if fresh)."""
    files, pages = render_outputs(schema_dir, out_dir)
    return output.check(files, pages, schema_dir, out_dir, docs_dir)
