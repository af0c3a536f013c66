"""Import lists of each generated module, computed from the IR.

Imports are decided here from what the IR says a module uses, never
collected while a template renders, so they are complete, minimal and in a
stable order (ruff's isort then groups them).
"""

from __future__ import annotations

from codegen.ir import Dialect, EntityIR, SchemaIR

PKG = "synthorg.persistence"
GEN = f"{PKG}.generated"


def _lines(
    modules: dict[str, set[str]], plain: set[str] | None = None
) -> tuple[str, ...]:
    lines = [f"import {name}" for name in sorted(plain or ())]
    for module in sorted(modules):
        names = ", ".join(sorted(modules[module]))
        lines.append(f"from {module} import {names}")
    return tuple(lines)


def entity_module(e: EntityIR) -> tuple[str, ...]:
    modules: dict[str, set[str]] = {
        "typing": {"Protocol"},
        "pydantic": {"BaseModel", "ConfigDict", "Field"},
        f"{PKG}.protocols": set(),
    }
    if e.id_keyed:
        modules[f"{PKG}.protocols"].add("IdKeyedRepository")
    if e.filtered:
        modules[f"{PKG}.protocols"].add("FilteredQueryRepository")
    annotations = " ".join(f.annotation for f in e.fields) + " " + e.key_tuple
    if "AwareDatetime" in annotations:
        modules["pydantic"].add("AwareDatetime")
    if "JsonValue" in annotations:
        modules["pydantic"].add("JsonValue")
    if "NotBlankStr" in annotations:
        modules[f"{PKG}.types"] = {"NotBlankStr"}
    if any(f.default_factory == "utc_now" for f in e.fields):
        modules[f"{PKG}._codec"] = {"utc_now"}
    if e.enums:
        modules[f"{GEN}.enums"] = set(e.enums)
    return _lines(modules)


def repository_module(e: EntityIR, dialect: Dialect) -> tuple[str, ...]:
    models = {e.name}
    if e.filtered:
        models.add(e.filter_spec)
    if e.key_alias:
        models.add(e.key_alias)
    modules: dict[str, set[str]] = {
        "typing": {"Any"},
        f"{PKG}.errors": {"MalformedRowError"},
        f"{GEN}.{e.module}": models,
        f"{PKG}.protocols": {"DEFAULT_PAGE_SIZE", "check_pagination"},
    }
    if e.filtered:
        modules[f"{PKG}.protocols"].add("FilterSql")
    if "NotBlankStr" in e.key_annotation:
        modules[f"{PKG}.types"] = {"NotBlankStr"}
    codec_names: set[str] = set()
    text = " ".join(
        f.codec(dialect).encode + " " + f.codec(dialect).decode for f in e.fields
    )
    for name in ("dt_to_text", "json_dumps", "json_loads"):
        if f"{name}(" in text:
            codec_names.add(name)
    if codec_names:
        modules[f"{PKG}._codec"] = codec_names
    if dialect == "sqlite":
        plain = {"sqlite3", "aiosqlite"}
        modules[f"{PKG}.sqlite.driver"] = {"WriteLock", "map_sqlite_error"}
    else:
        plain = {"psycopg"}
        modules[f"{PKG}.postgres.driver"] = {"Pool", "map_postgres_error"}
        if "Jsonb(" in text:
            modules["psycopg.types.json"] = {"Jsonb"}
    return _lines(modules, plain)


def repositories_module(schema: SchemaIR) -> tuple[str, ...]:
    modules: dict[str, set[str]] = {
        "dataclasses": {"dataclass"},
        "typing": {"Protocol"},
    }
    for e in schema.entities:
        modules[f"{GEN}.{e.module}"] = {e.repository}
    return _lines(modules)


def dialect_init_module(schema: SchemaIR, dialect: Dialect) -> tuple[str, ...]:
    modules: dict[str, set[str]] = {f"{GEN}.repositories": {"Repositories"}}
    prefix = "SQLite" if dialect == "sqlite" else "Postgres"
    for e in schema.entities:
        modules[f"{GEN}.{dialect}.{e.module}"] = {prefix + e.repository}
    if dialect == "sqlite":
        modules[f"{PKG}.sqlite.driver"] = {"WriteLock"}
        return _lines(modules, {"aiosqlite"})
    modules[f"{PKG}.postgres.driver"] = {"Pool"}
    return _lines(modules)


def package_init(schema: SchemaIR) -> tuple[str, ...]:
    modules: dict[str, set[str]] = {f"{GEN}.enums": {e.name for e in schema.enums}}
    for e in schema.entities:
        modules[f"{GEN}.{e.module}"] = set(e.exports)
    return _lines(modules)


def manifest_module(schema: SchemaIR) -> tuple[str, ...]:
    modules: dict[str, set[str]] = {
        "dataclasses": {"dataclass"},
        "enum": {"StrEnum"},
        "pydantic": {"BaseModel"},
    }
    enums = {f.enum for e in schema.entities for f in e.fields if f.enum}
    if enums:
        modules[f"{GEN}.enums"] = {name for name in enums if name}
    for e in schema.entities:
        names = {e.name}
        if e.filtered:
            names.add(e.filter_spec)
        modules[f"{GEN}.{e.module}"] = names
    return _lines(modules)
