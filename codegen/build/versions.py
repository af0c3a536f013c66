"""Build stage: value models (JSON inside rows) and version-snapshot tables.

Every version table has one fixed shape and is built as an id-keyed entity.
"""

from __future__ import annotations

from typing import Any

from codegen.build.entity import check_field_name, entity
from codegen.fields import build_field
from codegen.ir import GEN, EntityIR, ValueModelIR, VersionIR
from codegen.spec import (
    MODELS_FILE,
    VERSIONS_FILE,
    EntitySpec,
    LoadedSchema,
    SpecError,
)


def value_models(schema: LoadedSchema) -> tuple[ValueModelIR, ...]:
    file = f"{schema.enums_file.split('/')[0]}/{MODELS_FILE}"
    out: list[ValueModelIR] = []
    for name, spec in schema.models.items():
        prefix = f"models.{name}.fields"
        for fname in spec.fields:
            check_field_name(file, f"{prefix}.{fname}", fname)
        fields = tuple(
            build_field("_", file, fname, fs, schema.enums, prefix)
            for fname, fs in spec.fields.items()
        )
        out.append(
            ValueModelIR(
                name=name,
                description=spec.description or f"{name} (stored as JSON).",
                fields=fields,
                enums=tuple(sorted({f.enum for f in fields if f.enum is not None})),
            )
        )
    return tuple(out)


# Every version table has this shape; VersionRepository[T] reads and writes it.
VERSION_FIELDS: dict[str, dict[str, Any]] = {
    "entity_id": {"type": "str", "description": "Id of the versioned entity."},
    "version": {"type": "int", "ge": 1},
    "content_hash": {"type": "str", "description": "SHA-256 of the snapshot."},
    "snapshot": {"type": "json", "description": "The versioned model as JSON."},
    "saved_by": {"type": "str"},
    "saved_at": {"type": "datetime", "default": "now"},
}


def version_tables(
    schema: LoadedSchema,
    entities: list[EntityIR],
    models: tuple[ValueModelIR, ...],
    tables: dict[str, EntitySpec],
    seen: dict[tuple[str, str], str],
) -> tuple[VersionIR, ...]:
    """One id-keyed table per ``_versions.yaml`` accessor, of the fixed shape.

    Built through :func:`entity` like any table, so its DDL, indexes and
    migrations come from the same code; its accessor and table name must
    not collide with an entity's (``seen``).
    """
    file = f"{schema.enums_file.split('/')[0]}/{VERSIONS_FILE}"
    modules = {e.name: f"{GEN}.{e.module}" for e in entities}
    modules.update({m.name: f"{GEN}.models" for m in models})
    out: list[VersionIR] = []
    for accessor, version in schema.versions.items():
        path = f"versions.{accessor}"
        for what in ("accessor", "table"):
            other = seen.get((what, accessor))
            if other is not None:
                raise SpecError(
                    file, path, f"{accessor!r} is already declared in {other}"
                )
        if version.model not in modules:
            known = ", ".join(sorted(modules))
            raise SpecError(
                file,
                f"{path}.model",
                f"unknown model {version.model!r} (known: {known})",
            )
        spec = EntitySpec.model_validate(
            {
                "entity": "".join(p.title() for p in accessor.split("_")) + "Row",
                "accessor": accessor,
                "table": accessor,
                "description": version.description or f"Versions of {version.model}.",
                "repository": {
                    "kinds": ["id_keyed"],
                    "key": ["entity_id", "version"],
                    "order": ["entity_id", "version"],
                },
                "fields": VERSION_FIELDS,
                "indexes": [
                    {
                        "name": f"ix_{accessor}_content_hash",
                        "columns": ["entity_id", "content_hash", "-version"],
                    }
                ],
            }
        )
        table = entity(file, spec, schema.enums, tables)
        out.append(
            VersionIR(
                table=table,
                model=version.model,
                model_module=modules[version.model],
                description=spec.description,
            )
        )
    return tuple(out)
