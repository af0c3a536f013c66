"""Stage 1: load ``schema/*.yaml`` and validate it into spec models.

The YAML is parsed with ``yaml.safe_load`` and validated by pydantic models
with ``extra="forbid"``, so a typo in a key is an error rather than a silently
ignored setting. Every error is raised as :class:`SpecError`, which names the
file, the path inside the YAML (``fields.budget_limit.ge``) and what was
expected. The method models are the kinds' own (:mod:`codegen.kinds`), one
per ``kind``, so a key a kind does not take is refused naming the kind; the
shared pieces (errors, identifiers, conditions) are in
:mod:`codegen.spec_types`. Cross-references (an enum that does not exist, a filter on an
unknown field, an ordering that does not end in a unique key) are checked in
:mod:`codegen.ir`, which raises the same error type.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from codegen import strict_yaml
from codegen.kinds import MethodSpec as MethodSpec
from codegen.spec_errors import Vocabulary, validate
from codegen.spec_types import ClassName as ClassName
from codegen.spec_types import ConditionSpec as ConditionSpec
from codegen.spec_types import Identifier as Identifier
from codegen.spec_types import OrderItem as OrderItem
from codegen.spec_types import SetSpec as SetSpec
from codegen.spec_types import SpecError as SpecError
from codegen.spec_types import SpecErrors as SpecErrors
from codegen.spec_types import Strict
from codegen.spec_types import did_you_mean as did_you_mean
from codegen.spec_types import raise_all as raise_all

_Strict = Strict
ENUM_VALUE = re.compile(r"^[a-z][a-z0-9_]*$")

# Names a pydantic model field may not take: they shadow BaseModel members.
RESERVED_FIELD_NAMES = frozenset(
    name for name in dir(BaseModel) if not name.startswith("__")
) | frozenset({"self", "cls"})

SCALAR_TYPES = ("str", "text", "int", "float", "bool", "datetime", "bytes", "json")
LIST_TYPES = ("list[str]", "list[int]", "list[json]")


class EnumSpec(_Strict):
    """A closed set of string values, rendered as a ``StrEnum``."""

    description: str = ""
    values: list[Annotated[str, Field(pattern=ENUM_VALUE.pattern)]] = Field(
        min_length=1
    )

    @field_validator("values")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("enum values must be unique")
        return values


class EnumsFile(_Strict):
    """``schema/_enums.yaml``: the shared enums."""

    enums: dict[ClassName, EnumSpec]


class FieldSpec(_Strict):
    """One column of an entity."""

    type: (
        Literal[
            "str",
            "text",
            "int",
            "float",
            "bool",
            "datetime",
            "bytes",
            "json",
            "list[str]",
            "list[int]",
            "list[json]",
        ]
        | None
    ) = None
    enum: ClassName | None = None
    optional: bool = False
    default: Any = None
    description: str = ""
    ge: int | float | None = None
    gt: int | float | None = None
    le: int | float | None = None
    lt: int | float | None = None
    pattern: str | None = None
    unique: bool = False
    references: (
        Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")] | None
    ) = None
    on_delete: Literal["cascade", "restrict", "set_null", "no_action"] = "no_action"
    # Schema evolution (see docs/migrations.md): the column's previous name,
    # and the value existing rows get when the column is added or made NOT
    # NULL (the ``default`` serves when there is no ``backfill``).
    renamed_from: Identifier | None = None
    backfill: Any = None


class FilterSpec(_Strict):
    """One optional filter of the entity's filter spec (combined with AND).

    ``op`` compares the field with the given value (``eq`` by default;
    ``ge``/``gt``/``le``/``lt`` make time windows such as ``since``/``until``).
    ``flag`` makes a boolean filter that, when True, adds ``field = flag``
    (``revoked_only: {field: revoked, flag: true}``).
    """

    field: Identifier | None = None  # defaults to the filter's own name
    op: Literal["eq", "ge", "gt", "le", "lt"] = "eq"
    flag: bool | None = None
    description: str = ""


class RepositorySpec(_Strict):
    """How the entity is read and written."""

    kinds: list[Literal["id_keyed", "filtered_query", "append_only", "version"]] = (
        Field(min_length=1)
    )
    key: list[Identifier] = Field(min_length=1)
    order: list[OrderItem] = Field(min_length=1)
    time_field: Identifier | None = None
    exclude: dict[Identifier, str | int | bool] = Field(default_factory=dict)
    # Rows ``delete`` refuses: name -> {field: value} (all must match).
    protect: dict[Identifier, dict[Identifier, str | int | bool]] = Field(
        default_factory=dict
    )
    differ: list[Annotated[list[Identifier], Field(min_length=2, max_length=2)]] = (
        Field(default_factory=list)
    )
    filters: dict[Identifier, FilterSpec] = Field(default_factory=dict)
    methods: dict[Identifier, MethodSpec] = Field(default_factory=dict)


class IndexSpec(_Strict):
    """An explicit index, beyond those derived from filters and orderings."""

    name: Identifier
    columns: list[Annotated[str, Field(pattern=r"^-?[a-z_][a-z0-9_]*$")]] = Field(
        min_length=1
    )
    unique: bool = False
    where: dict[Identifier, str | int | bool] = Field(default_factory=dict)


class EntitySpec(_Strict):
    """One ``schema/<entity>.yaml`` file."""

    entity: ClassName
    accessor: Identifier
    table: Identifier
    description: str = ""
    repository: RepositorySpec
    fields: dict[Identifier, FieldSpec] = Field(min_length=1)
    indexes: list[IndexSpec] = Field(default_factory=list)
    enums: dict[ClassName, EnumSpec] = Field(default_factory=dict)
    # A time series (append_only only): the required datetime column a
    # time-series store partitions by (TimescaleDB hypertables).
    timeseries: Identifier | None = None
    # Schema evolution (see docs/migrations.md): the table's previous name,
    # and destructive changes allowed for this table ("drop_column:<field>",
    # "narrow_type:<field>", "narrow_check:<constraint>", "not_null:<field>",
    # "primary_key").
    renamed_from: Identifier | None = None
    allow_destructive: list[
        Annotated[str, Field(pattern=r"^[a-z_]+(:[a-z_][a-z0-9_]*)?$")]
    ] = Field(default_factory=list)


class ValueModelSpec(_Strict):
    """A model stored as JSON inside rows (no table of its own)."""

    description: str = ""
    fields: dict[Identifier, FieldSpec] = Field(min_length=1)


class ModelsFile(_Strict):
    """``schema/_models.yaml``: value models, such as versioned configs."""

    models: dict[ClassName, ValueModelSpec]


class VersionSpec(_Strict):
    """One version-snapshot accessor: ``VersionRepository[model]``."""

    model: ClassName
    description: str = ""


class VersionsFile(_Strict):
    """``schema/_versions.yaml``: every version-snapshot accessor."""

    versions: dict[Identifier, VersionSpec]


class LoadedSchema(BaseModel):
    """Every validated spec, keyed by file name, sorted for determinism."""

    model_config = ConfigDict(frozen=True)

    enums: dict[str, EnumSpec]
    enums_file: str
    entities: tuple[tuple[str, EntitySpec], ...]
    models: dict[str, ValueModelSpec] = {}
    versions: dict[str, VersionSpec] = {}


_VOCABULARY = Vocabulary(
    known=(
        EnumsFile,
        EnumSpec,
        FieldSpec,
        FilterSpec,
        RepositorySpec,
        IndexSpec,
        EntitySpec,
        ValueModelSpec,
        VersionSpec,
    ),
    homes={
        "repository": RepositorySpec,
        "a field": FieldSpec,
        "a filter": FilterSpec,
        "an index": IndexSpec,
    },
)


def _read_yaml(path: Path, display: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(display, "", f"cannot read file: {exc.strerror}") from None
    try:
        data = strict_yaml.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        hint = ""
        if mark is not None:
            lines = text.splitlines()
            line = lines[mark.line] if mark.line < len(lines) else ""
            if "list[" in line:
                hint = (
                    "; in a flow mapping ({...}) quote a list type: {type: 'list[str]'}"
                )
        raise SpecError(display, "", f"invalid YAML{where}: {problem}{hint}") from None
    if not isinstance(data, dict):
        raise SpecError(display, "", "expected a mapping at the top level")
    return data


ENUMS_FILE = "_enums.yaml"
MODELS_FILE = "_models.yaml"
VERSIONS_FILE = "_versions.yaml"
SPECIAL = (ENUMS_FILE, MODELS_FILE, VERSIONS_FILE)


def _load_file(model: type[BaseModel], path: Path, display: str) -> Any:
    return validate(model, _read_yaml(path, display), display, _VOCABULARY)


def load_schema(schema_dir: Path) -> LoadedSchema:
    """Read and validate every spec in ``schema_dir``.

    File names in errors are relative to the schema folder's parent (for
    example ``schema/tasks.yaml``) so messages read the same on any machine.
    Every file is read and validated before anything is raised: the error
    lists every problem of every file (:class:`SpecErrors`).
    """
    base = schema_dir.name
    problems: list[SpecError] = []
    enums_path = schema_dir / ENUMS_FILE
    enums: dict[str, EnumSpec] = {}
    if enums_path.exists():
        try:
            enums = dict(
                _load_file(EnumsFile, enums_path, f"{base}/{ENUMS_FILE}").enums
            )
        except SpecError as exc:
            problems.append(exc)
    entities: list[tuple[str, EntitySpec]] = []
    enum_files: dict[str, str] = {}
    for path in sorted(schema_dir.glob("*.yaml")):
        if path.name in SPECIAL:
            continue
        display = f"{base}/{path.name}"
        try:
            spec: EntitySpec = _load_file(EntitySpec, path, display)
        except SpecError as exc:
            problems.append(exc)
            continue
        if spec.accessor != path.stem:
            # One file per accessor: the file name is how people find it.
            problems.append(
                SpecError(
                    display,
                    "accessor",
                    f"accessor {spec.accessor!r} differs from the file name "
                    f"{path.name!r}; rename the file to {spec.accessor}.yaml "
                    f"or set accessor: {path.stem}",
                )
            )
        # Enums an entity declares join the shared namespace (one class each).
        for name in spec.enums:
            if name in enums:
                other = enum_files.get(name, f"{base}/{ENUMS_FILE}")
                problems.append(
                    SpecError(display, f"enums.{name}", f"already declared in {other}")
                )
                continue
            enums[name] = spec.enums[name]
            enum_files[name] = display
        entities.append((display, spec))
    if not entities and not problems:
        raise SpecError(base, "", "no entity specs found (*.yaml)")
    models: dict[str, ValueModelSpec] = {}
    if (schema_dir / MODELS_FILE).exists():
        display = f"{base}/{MODELS_FILE}"
        try:
            models = _load_file(ModelsFile, schema_dir / MODELS_FILE, display).models
        except SpecError as exc:
            problems.append(exc)
    versions: dict[str, VersionSpec] = {}
    if (schema_dir / VERSIONS_FILE).exists():
        display = f"{base}/{VERSIONS_FILE}"
        try:
            versions = _load_file(
                VersionsFile, schema_dir / VERSIONS_FILE, display
            ).versions
        except SpecError as exc:
            problems.append(exc)
    raise_all(problems)
    return LoadedSchema(
        enums=dict(sorted(enums.items())),
        enums_file=f"{base}/{ENUMS_FILE}",
        entities=tuple(entities),
        models=dict(sorted(models.items())),
        versions=dict(sorted(versions.items())),
    )
