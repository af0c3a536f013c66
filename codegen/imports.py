"""Import lists of each generated module, computed from the IR.

Imports are decided here from what the IR says a module uses, never
collected while a template renders, so they are complete, minimal and in a
stable order (ruff's isort then groups them).
"""

from __future__ import annotations

import re

from codegen.ir import DIALECTS, GEN, PKG, Dialect, EntityIR, SchemaIR


def _lines(
    modules: dict[str, set[str]], plain: set[str] | None = None
) -> tuple[str, ...]:
    lines = [f"import {name}" for name in sorted(plain or ())]
    for module in sorted(m for m in modules if modules[m]):  # skip empty imports
        names = ", ".join(sorted(modules[module]))
        lines.append(f"from {module} import {names}")
    return tuple(lines)


# Names that may appear in annotations or defaults, and where they come from.
KNOWN_NAMES = {
    "NotBlankStr": f"{PKG}.types",
    "Text": f"{PKG}.types",
    "Timestamp": f"{PKG}.types",
    "AwareDatetime": "pydantic",
    "JsonValue": "pydantic",
    "DEFAULT_PAGE_SIZE": f"{PKG}.support",
    "DEFAULT_BATCH_SIZE": f"{PKG}.support",
    "AsyncIterator": "collections.abc",
}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def _method_text(e: EntityIR, declared_only: bool) -> str:
    methods = e.declared_methods if declared_only else e.methods
    parts: list[str] = []
    for m in methods:
        parts.append(m.returns)
        for p in m.params:
            parts.append(p.annotation)
            parts.append(p.default or "")
    return " ".join(parts)


def _custom_imports(e: EntityIR, modules: dict[str, set[str]], words: set[str]) -> None:
    """Imports that declared custom signatures name (``collections.abc.Sequence``)."""
    for m in e.custom_methods:
        for dotted in m.extra:
            module, _, name = dotted.rpartition(".")
            if name in words:
                modules.setdefault(module, set()).add(name)


def _add_known(modules: dict[str, set[str]], words: set[str]) -> None:
    for name, module in KNOWN_NAMES.items():
        if name in words:
            modules.setdefault(module, set()).add(name)


def entity_module(e: EntityIR) -> tuple[str, ...]:
    modules: dict[str, set[str]] = {
        "typing": {"Protocol"},
        "pydantic": {"ConfigDict"},
        f"{PKG}.repository_protocols": set(),
        f"{PKG}.types": {"StoredModel"},
    }
    if e.differ:
        modules["pydantic"].add("model_validator")
        modules["typing"].add("Self")
    if any(f.field_call() for f in e.fields) or any(x.description for x in e.filters):
        modules["pydantic"].add("Field")
    if e.id_keyed:
        modules[f"{PKG}.repository_protocols"].add("IdKeyedRepository")
    if "filtered_query" in e.kinds:
        modules[f"{PKG}.repository_protocols"].add("FilteredQueryRepository")
    if e.append_only:
        modules[f"{PKG}.repository_protocols"].add("AppendOnlyRepository")
    text = " ".join(f.annotation for f in e.fields)
    text += " " + " ".join(flt.annotation for flt in e.filters)
    text += " " + e.key_tuple + " " + _method_text(e, declared_only=True)
    words = _words(text)
    _add_known(modules, words)
    _custom_imports(e, modules, words)
    if any(f.default_factory == "utc_now" for f in e.fields):
        modules.setdefault(f"{PKG}.support", set()).add("utc_now")
    enums = set(e.enums) | {name for name in words if name in e.enum_names}
    if enums:
        modules[f"{GEN}.enums"] = enums
    # The entity's own names are defined here, not imported.
    for own in e.exports:
        for names in modules.values():
            names.discard(own)
    return _lines({k: v for k, v in modules.items() if v})


def repository_module(
    e: EntityIR, dialect: Dialect, shared: frozenset[tuple[str, str]] = frozenset()
) -> tuple[str, ...]:
    text = _method_text(e, declared_only=False)
    words = _words(text)
    models = {name for name in e.exports if name in words or name == e.name}
    if e.filtered:
        models.add(e.filter_spec)
    modules: dict[str, set[str]] = {
        "typing": {"Any"},
        f"{PKG}.support": {
            "malformed_row",
            "VALIDATED",
            "revalidate",
            "check_pagination",
        },
        f"{PKG}.errors": set(),
        f"{GEN}.{e.module}": models,
    }
    _add_known(modules, words)
    _custom_imports(e, modules, words)
    if any(m.decode in ("mixed_sum", "kept_total") for m in e.methods):
        modules[f"{PKG}.errors"].add("MixedCurrencyAggregationError")
    if e.windows:
        modules[f"{PKG}.errors"].add("InvalidValueError")
    if any(c.filtered for c in e.sql_consts[dialect]):
        modules[f"{PKG}.support"].add("FilterSql")
    if any(c.keyset for c in e.sql_consts[dialect]):
        modules[f"{PKG}.support"] |= {"Keyset", "KeysetSql"}
    shapes = {m.shape for m in e.methods}
    if any(g.raises for m in e.methods for g in m.guards):
        modules[f"{PKG}.errors"].add("InvalidValueError")
    if any(m.name == "delete" and len(m.consts) > 1 for m in e.methods):
        modules[f"{PKG}.errors"].add("ConstraintViolationError")  # protect
    if any(m.shape == "rowcount" and m.returns == "None" for m in e.methods):
        modules[f"{PKG}.errors"].add("RecordNotFoundError")
    if "batch" in shapes:
        modules.setdefault("collections.abc", set()).add("Sequence")
    # What the expressions call, as their producers declared it: the fields'
    # codecs (``_params``/``_from_row``), each parameter's check and
    # encoding, and the methods' own expressions (``utc_now``, ...).
    uses = set(e.uses)
    for f in e.fields:
        uses |= f.codec(dialect).uses
    for m in e.methods:
        if m.shape != "custom":
            for p in m.params:
                uses |= p.uses.get(dialect, frozenset())
    for qualified in uses:
        module, _, name = qualified.partition(":")
        modules.setdefault(module, set()).add(name)
    enums = {name for name in words if name in e.enum_names}
    if enums:
        modules.setdefault(f"{GEN}.enums", set()).update(enums)
    rows = {"unreadable"} if shapes & {"one", "many"} else set()
    if "stream" in shapes:
        rows.add("stream_rows")
    if rows:
        modules[f"{PKG}.{dialect}.rows"] = rows
    # The driver's names, and what the dialect's own statements need.
    driver, plain = DIALECTS[dialect].repository_imports(shapes)
    modules.update(driver)
    for m in e.custom_methods:  # ``shared``: written once, in <runtime>/custom/
        if (e.module, m.name) in shared:
            modules[f"{PKG}.custom"] = {f"{e.module} as _shared"}
        else:
            modules[f"{PKG}.{dialect}.custom"] = {f"{e.module} as _custom"}
    return _lines(modules, plain)


def repositories_module(schema: SchemaIR) -> tuple[str, ...]:
    modules: dict[str, set[str]] = {
        "dataclasses": {"dataclass"},
        "typing": {"Protocol"},
    }
    for e in schema.entities:
        modules[f"{GEN}.{e.module}"] = {e.repository}
    for v in schema.versions:
        modules.setdefault(v.model_module, set()).add(v.model)
    if schema.versions:
        modules[f"{PKG}.versions"] = {"VersionRepository"}
    return _lines(modules)


def dialect_init_module(schema: SchemaIR, dialect: Dialect) -> tuple[str, ...]:
    modules: dict[str, set[str]] = {f"{GEN}.repositories": {"Repositories"}}
    prefix = DIALECTS[dialect].class_prefix
    for e in schema.entities:
        modules[f"{GEN}.{dialect}.{e.module}"] = {prefix + e.repository}
    for v in schema.versions:
        modules.setdefault(v.model_module, set()).add(v.model)
    if schema.versions:
        modules[f"{PKG}.{dialect}.versions"] = {f"{prefix}VersionRepository"}
    d = DIALECTS[dialect]
    modules[d.driver_module] = set(d.init_driver_names)
    return _lines(modules)


def models_module(schema: SchemaIR) -> tuple[str, ...]:
    """Imports of ``generated/models.py`` (value models)."""
    if not schema.models:
        return ()
    modules: dict[str, set[str]] = {
        "pydantic": {"ConfigDict"},
        f"{PKG}.types": {"StoredModel"},
    }
    words: set[str] = set()
    for model in schema.models:
        words |= _words(" ".join(f.annotation for f in model.fields))
        if any(f.field_call() for f in model.fields):
            modules["pydantic"].add("Field")
        if any(f.default_factory == "utc_now" for f in model.fields):
            modules.setdefault(f"{PKG}.support", set()).add("utc_now")
        if model.enums:
            modules.setdefault(f"{GEN}.enums", set()).update(model.enums)
    _add_known(modules, words)
    return _lines(modules)


def package_init(schema: SchemaIR) -> tuple[str, ...]:
    modules: dict[str, set[str]] = {f"{GEN}.enums": {e.name for e in schema.enums}}
    if schema.models:
        modules[f"{GEN}.models"] = {m.name for m in schema.models}
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
    for v in schema.versions:
        modules.setdefault(v.model_module, set()).add(v.model)
    return _lines(modules)
