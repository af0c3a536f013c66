"""``new ENTITY``: scaffold ``schema/<entity>.yaml``, then generate."""

from __future__ import annotations

import argparse
import keyword
import re
from pathlib import Path
from typing import Any

from synthorg.persistence.cli._common import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    add_schema_arguments,
    load_codegen,
)

HELP = "scaffold schema/ENTITY.yaml (commented, the usual keys), then generate"
DESCRIPTION = """\
Write schema/ENTITY.yaml, a commented entity spec with the usual keys (an
id key, a name, a created_at timestamp, an id_keyed + filtered_query
repository with two filters and one lookup method), then run generate, so
backend.ENTITY works after `synthorg-persistence migrate`. Generating writes
the entity's revision, so a later edit becomes a further revision: to shape
it first, use --no-generate, edit, then generate. ENTITY is the accessor, table
and file name: lower_snake_case, plural (e.g. invoices). Refuses an
existing file, a name already used, and a bad name (exit 2); if generate
fails the file is removed again. Needs a source checkout and the dev extra.
"""

NAME = re.compile(r"[a-z][a-z0-9_]*")
CLASS = re.compile(r"[A-Z][A-Za-z0-9]*")
MAX_NAME = 40  # leaves room in PostgreSQL's 63-byte names of derived indexes

# Names the backend itself uses (accessors live on the same object).
_RESERVED = frozenset(
    {
        "build_escalations",
        "build_lockouts",
        "build_ontology_versioning",
        "config",
        "connect",
        "disconnect",
        "get_db",
        "get_setting",
        "health_check",
        "is_connected",
        "kind",
        "backend_name",
        "migrate",
        "migration_status",
        "set_setting",
        "transaction",
        "write_context",
    }
)

TEMPLATE = """\
# {cls}: scaffolded by `synthorg-persistence new {name}`. Edit, then run
# `synthorg-persistence generate` (or `make generate`); the vocabulary is
# in docs/schema.md. Each generate after an edit writes a further revision.
entity: {cls}            # the model class; its Protocol is {cls}Repository
accessor: {name}         # backend.{name}; must be this file's name
table: {name}
description: TODO what one {cls} is.
repository:
  # id_keyed: save (upsert), get, delete, list_items, save_many;
  # filtered_query (with id_keyed): query(spec), count(spec);
  # append_only instead: append, query, purge_before (needs time_field).
  kinds: [id_keyed, filtered_query]
  key: [id]              # one field, or several for a composite key
  order: [id]            # list order; must include a unique key; -f descends
  filters:
    # Each entry is an optional filter of query()/count(), combined with AND.
    name: {{}}                               # name = ?
    since: {{field: created_at, op: ge}}     # created_at >= ?
  methods:
    # Declared methods, each one SQL statement: lookup, first, list, count,
    # keyset, delete, update, insert, upsert, aggregate, ... (docs/schema.md)
    get_by_name:
      kind: lookup
      description: The {cls} with this name, or None.
      by: [name]
fields:
  # type: str (non-blank), text, int, float, bool, datetime, bytes, json,
  # "list[str]", "list[int]", "list[json]" (quote list types), or enum: Name.
  # Keys: optional, default, unique, ge/gt/le/lt, pattern, references
  # (table.field) with on_delete, description.
  id: {{type: str, description: The key.}}
  name: {{type: str, unique: true}}
  created_at: {{type: datetime, default: now}}
# Extra indexes beyond the derived ones (every declared query is already
# index-backed): - {{name: ix_{name}_..., columns: [...], unique: false}}
indexes: []
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "new",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "entity",
        metavar="ENTITY",
        help="accessor, table and file name, lower_snake_case (e.g. invoices)",
    )
    parser.add_argument(
        "--class-name",
        metavar="NAME",
        help="the model class (default: ENTITY in CamelCase, singular: Invoice)",
    )
    parser.add_argument(
        "--no-generate",
        action="store_true",
        help="only write the YAML file; do not run generate",
    )
    add_schema_arguments(parser)
    parser.set_defaults(func=command)


def class_name(entity: str) -> str:
    """``invoice_lines`` -> ``InvoiceLine``; ``categories`` -> ``Category``."""
    words = entity.split("_")
    last = words[-1]
    if last.endswith("ies") and len(last) > 3:
        last = last[:-3] + "y"
    elif last.endswith(("sses", "xes", "ches", "shes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith("ss") and len(last) > 1:
        last = last[:-1]
    words[-1] = last
    return "".join(word.capitalize() for word in words if word)


def validate_name(entity: str) -> None:
    """Refuse a name the generator or the backend could not take."""
    if not NAME.fullmatch(entity):
        raise CliError(
            f"bad entity name {entity!r}: use lower_snake_case letters, digits "
            "and underscores, starting with a letter (e.g. invoices)",
            EXIT_USAGE,
        )
    if len(entity) > MAX_NAME:
        raise CliError(
            f"bad entity name {entity!r}: at most {MAX_NAME} characters "
            "(derived index names must fit PostgreSQL's 63)",
            EXIT_USAGE,
        )
    if keyword.iskeyword(entity) or entity in _RESERVED or "__" in entity:
        raise CliError(
            f"bad entity name {entity!r}: reserved (a Python keyword or a "
            "backend attribute)",
            EXIT_USAGE,
        )


def _declared(schema: Path) -> dict[str, str]:
    """accessor/table/entity names already declared -> the file declaring them."""
    taken: dict[str, str] = {}
    pattern = re.compile(r"^(entity|accessor|table|renamed_from):\s*(\S+)", re.M)
    for path in sorted(schema.glob("*.yaml")):
        for _, value in pattern.findall(path.read_text(encoding="utf-8")):
            taken.setdefault(value.strip("'\""), path.name)
    return taken


def command(args: argparse.Namespace) -> int:
    entity: str = args.entity
    validate_name(entity)
    cls = args.class_name or class_name(entity)
    if not CLASS.fullmatch(cls):
        raise CliError(
            f"bad class name {cls!r}: use CamelCase (e.g. Invoice)", EXIT_USAGE
        )
    codegen = None if args.no_generate else load_codegen()
    schema: Path = args.schema
    if schema is None:
        if codegen is None:
            codegen = load_codegen()
        schema = Path(codegen.ROOT) / "schema"
    if not schema.is_dir():
        raise CliError(f"no schema folder at {str(schema)!r}", EXIT_USAGE)
    target = schema / f"{entity}.yaml"
    if target.exists():
        raise CliError(f"{target} exists already; edit it instead", EXIT_USAGE)
    taken = _declared(schema)
    for name in (entity, cls):
        if name in taken:
            raise CliError(
                f"{name!r} is already declared in {schema.name}/{taken[name]}",
                EXIT_USAGE,
            )
    target.write_text(TEMPLATE.format(cls=cls, name=entity), encoding="utf-8")
    print(f"wrote {target}")
    if codegen is None:
        print("next: edit it, then `synthorg-persistence generate`")
        return EXIT_OK
    code: int = codegen.run("generate", schema, args.out)
    if code != EXIT_OK:
        target.unlink()
        raise CliError(f"generate failed; removed {target} again", code)
    print(
        f"next: edit {target.name}, `synthorg-persistence generate`, then "
        f"`synthorg-persistence migrate`; backend.{entity} is ready"
    )
    return EXIT_OK
