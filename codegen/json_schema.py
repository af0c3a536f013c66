"""The JSON Schema of the schema files, for editors (``schema/_schema.json``).

Derived from the pydantic spec models of :mod:`codegen.spec`
(``model_json_schema``), so it can never disagree with the generator about
which keys exist. A method is the union of the kinds' models
(:mod:`codegen.kinds`) discriminated by ``kind``, so an editor completes and
checks the keys of the kind written. One file serves every
``schema/*.yaml``: an entity file (it has ``entity:``) is checked against
``EntitySpec``, ``_enums.yaml``, ``_models.yaml`` and ``_versions.yaml``
against their own models. Each
YAML file names it on its first line (:data:`HEADER`), which the YAML
language server (VS Code's YAML extension, Neovim, JetBrains) reads to
complete and validate keys as you type.

``python -m codegen generate`` writes it into a schema folder whose files
carry the header; ``check`` fails naming it when it is stale; ``python -m
codegen schema-json`` prints it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from codegen.spec import EntitySpec, EnumsFile, ModelsFile, VersionsFile

SCHEMA_FILE = "_schema.json"
HEADER = f"# yaml-language-server: $schema=./{SCHEMA_FILE}"


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of every kind of schema file."""
    _, top = models_json_schema(
        [(m, "validation") for m in (EntitySpec, EnumsFile, ModelsFile, VersionsFile)],
        ref_template="#/$defs/{model}",
    )

    def ref(name: str) -> dict[str, str]:
        return {"$ref": f"#/$defs/{name}"}

    # An entity may declare its own 'enums:', so 'entity:' decides first.
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "synthorg.persistence schema file",
        "description": (
            "One schema/*.yaml file: an entity (schema/<accessor>.yaml), or "
            "_enums.yaml, _models.yaml, _versions.yaml. Generated from "
            "codegen/spec.py by `python -m codegen generate`; see docs/schema.md."
        ),
        "if": {"required": ["entity"]},
        "then": ref("EntitySpec"),
        "else": {
            "if": {"required": ["enums"]},
            "then": ref("EnumsFile"),
            "else": {
                "if": {"required": ["models"]},
                "then": ref("ModelsFile"),
                "else": {
                    "if": {"required": ["versions"]},
                    "then": ref("VersionsFile"),
                    "else": ref("EntitySpec"),
                },
            },
        },
        "$defs": dict(sorted(top["$defs"].items())),
    }


def render() -> str:
    """The text of ``_schema.json`` (deterministic)."""
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


def wanted(schema_dir: Path) -> bool:
    """Whether a file of ``schema_dir`` names ``_schema.json`` in its header."""
    for path in sorted(schema_dir.glob("*.yaml")):
        with path.open(encoding="utf-8") as handle:
            if handle.readline().rstrip("\r\n") == HEADER:
                return True
    return False


def problems(schema_dir: Path) -> list[str]:
    """``check``'s finding for ``_schema.json`` (empty when fresh or not used)."""
    if not wanted(schema_dir):
        return []
    target = schema_dir / SCHEMA_FILE
    shown = f"{schema_dir.name}/{SCHEMA_FILE}"
    if not target.exists():
        return [f"missing: {shown} (the JSON Schema the YAML headers name)"]
    if target.read_text(encoding="utf-8") != render():
        return [f"stale: {shown} (the JSON Schema of the spec models changed)"]
    return []


def write(schema_dir: Path) -> list[str]:
    """Write ``_schema.json`` when used and changed; returns what changed."""
    if not wanted(schema_dir):
        return []
    target = schema_dir / SCHEMA_FILE
    text = render()
    if target.exists() and target.read_text(encoding="utf-8") == text:
        return []
    target.write_text(text, encoding="utf-8")
    return [f"{schema_dir.name}/{SCHEMA_FILE}"]
