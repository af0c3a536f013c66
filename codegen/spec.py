"""Stage 1: load ``schema/*.yaml`` and validate it into spec models.

The YAML is parsed with ``yaml.safe_load`` and validated by pydantic models
with ``extra="forbid"``, so a typo in a key is an error rather than a silently
ignored setting. Every error is raised as :class:`SpecError`, which names the
file, the path inside the YAML (``fields.budget_limit.ge``) and what was
expected. Cross-references (an enum that does not exist, a filter on an
unknown field, an ordering that does not end in a unique key) are checked in
:mod:`codegen.ir`, which raises the same error type.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from codegen import strict_yaml

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
CLASS_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
ENUM_VALUE = re.compile(r"^[a-z][a-z0-9_]*$")

# Names a pydantic model field may not take: they shadow BaseModel members.
RESERVED_FIELD_NAMES = frozenset(
    name for name in dir(BaseModel) if not name.startswith("__")
) | frozenset({"self", "cls"})

SCALAR_TYPES = ("str", "text", "int", "float", "bool", "datetime", "bytes", "json")
LIST_TYPES = ("list[str]", "list[int]", "list[json]")


class SpecError(Exception):
    """A schema file is invalid: names the file, the YAML path and the problem."""

    def __init__(self, file: str, path: str, message: str) -> None:
        self.file = file
        self.path = path
        self.message = message
        where = f"{file}: {path}" if path else file
        super().__init__(f"{where}: {message}")

    @property
    def errors(self) -> tuple[SpecError, ...]:
        """Every problem this error stands for (itself, for a single one)."""
        return (self,)


class SpecErrors(SpecError):
    """Several problems of one run, reported together (numbered).

    ``file``, ``path`` and ``message`` are the first problem's, so code that
    reads one :class:`SpecError` keeps working; ``errors`` lists them all.
    """

    def __init__(self, errors: Sequence[SpecError]) -> None:
        flat = tuple(e for error in errors for e in error.errors)
        first = flat[0]
        super().__init__(first.file, first.path, first.message)
        self._errors = flat

    @property
    def errors(self) -> tuple[SpecError, ...]:
        return self._errors

    def __str__(self) -> str:
        lines = [f"{len(self._errors)} problems:"]
        lines += [f"  {i}. {e}" for i, e in enumerate(self._errors, 1)]
        return "\n".join(lines)


def raise_all(errors: Sequence[SpecError]) -> None:
    """Raise every collected problem at once (nothing when there is none)."""
    flat = [e for error in errors for e in error.errors]
    if len(flat) == 1:
        raise flat[0]
    if flat:
        raise SpecErrors(flat)


def did_you_mean(value: object, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""``."""
    close = difflib.get_close_matches(str(value), sorted(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


Identifier = Annotated[str, Field(pattern=IDENTIFIER.pattern, max_length=63)]
ClassName = Annotated[str, Field(pattern=CLASS_NAME.pattern)]


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


OrderItem = Annotated[str, Field(pattern=r"^-?[a-z_][a-z0-9_]*$")]


class ConditionSpec(_Strict):
    """One extra predicate of a method: ``field op <value>``.

    The right-hand side is a literal ``value`` from the spec, a method
    parameter ``param`` (optionally ``ago: seconds|days`` before now, for
    retention), or ``now``. ``is_null``/``not_null`` take none.
    """

    field: Identifier
    op: Literal["eq", "ne", "lt", "le", "gt", "ge", "is_null", "not_null"] = "eq"
    value: str | int | bool | None = None
    param: Identifier | None = None
    ago: Literal["seconds", "days"] | None = None
    now: bool = False


class SetSpec(_Strict):
    """What an ``update`` method writes into one column."""

    param: Identifier | None = None
    value: str | int | bool | None = None
    now: bool = False
    allowed: list[str | int | bool] = Field(default_factory=list)


class MethodSpec(_Strict):
    """A repository method beyond the kind's generic ones.

    Declarative kinds get both dialects from this declaration (see
    docs/schema.md for each): ``lookup``, ``first``, ``list``, ``count``,
    ``keyset``, ``delete``, ``update``, ``insert``, ``update_entity``,
    ``upsert``, ``upsert_outcome``, ``compare_and_set``, ``aggregate``,
    ``increment`` and ``versioned_append``. ``custom`` declares a
    hand-written method by its ``signature``.
    """

    kind: Literal[
        "lookup",
        "first",
        "list",
        "count",
        "keyset",
        "delete",
        "update",
        "insert",
        "update_entity",
        "upsert",
        "upsert_outcome",
        "compare_and_set",
        "aggregate",
        "increment",
        "versioned_append",
        "custom",
    ]
    description: str = ""
    by: list[Identifier] = Field(default_factory=list)
    params: dict[Identifier, Identifier] = Field(default_factory=dict)
    where: list[ConditionSpec] = Field(default_factory=list)
    set: dict[Identifier, SetSpec] = Field(default_factory=dict)
    order: list[OrderItem] = Field(default_factory=list)
    paged: Literal["limit_offset", "limit", "none"] = "limit_offset"
    after: Identifier | None = None
    descending: bool = False
    returning: Identifier | None = None
    returns: Literal["bool", "int"] = "bool"
    version: Identifier | None = None
    scope: list[Identifier] = Field(default_factory=list)
    sum: Identifier | None = None
    single: Identifier | None = None
    optional: list[Identifier] = Field(default_factory=list)
    require_any: bool = False
    skip_unless_positive: Identifier | None = None
    signature: str | None = None
    imports: list[Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")]] = (
        Field(default_factory=list)
    )


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


def _format_loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts)


def _known_keys() -> set[str]:
    """Every key any spec model accepts, for did-you-mean hints."""
    models: list[type[BaseModel]] = [
        EnumsFile,
        EnumSpec,
        FieldSpec,
        FilterSpec,
        MethodSpec,
        RepositorySpec,
        IndexSpec,
        EntitySpec,
        ValueModelSpec,
        VersionSpec,
    ]
    return {name for model in models for name in model.model_fields}


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> Any:
    """The spec model (or type) that validates the value at ``loc``."""
    current: Any = model
    for part in loc:
        while True:
            origin = get_origin(current)
            if origin is Annotated:
                current = get_args(current)[0]
            elif origin in (Union, UnionType):
                models = [a for a in get_args(current) if isinstance(a, type)]
                models = [a for a in models if issubclass(a, BaseModel)]
                current = models[0] if models else None
            else:
                break
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            current = None if info is None else info.annotation
        elif get_origin(current) in (dict, list):
            current = get_args(current)[-1]
        else:
            return None
    return current


def _keys_for(model: type[BaseModel], parent: tuple[int | str, ...]) -> list[str]:
    """Keys the mapping at ``parent`` accepts (every known key if unsure)."""
    target = _model_at(model, parent)
    while get_origin(target) is Annotated:
        target = get_args(target)[0]
    if isinstance(target, type) and issubclass(target, BaseModel):
        return sorted(target.model_fields)
    return sorted(_known_keys())


def _belongs(key: str) -> str:
    """Where ``key`` is valid, when it was given in the wrong mapping."""
    homes: dict[str, type[BaseModel]] = {
        "repository": RepositorySpec,
        "a field": FieldSpec,
        "a filter": FilterSpec,
        "a method": MethodSpec,
        "an index": IndexSpec,
    }
    found = [name for name, model in homes.items() if key in model.model_fields]
    return f" here (it is a key of {' or '.join(found)})" if found else ""


def _echo(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _literal_message(error: Any, loc: tuple[int | str, ...]) -> str:
    value = error["input"]
    expected = str(error["ctx"]["expected"])
    choices = re.findall(r"'([^']*)'", expected)
    what = str(loc[-1]) if loc and isinstance(loc[-1], str) else "value"
    if what == "type" and isinstance(value, list):
        # ``type: [str]`` or a flow mapping YAML read as a list.
        return (
            f"got the YAML list {_echo(value)}; write a list type as a quoted "
            "string, e.g. type: 'list[str]'"
        )
    if isinstance(value, str) and (hint := did_you_mean(value, choices)):
        return f"unknown {what} {value!r}{hint}"
    return f"unknown {what} {_echo(value)}; expected {expected}"


def _pydantic_errors(
    exc: ValidationError, file: str, model: type[BaseModel]
) -> list[SpecError]:
    """Every problem pydantic found, as SpecErrors with hints (one per path)."""
    raw = exc.errors(include_url=False)
    located: list[tuple[tuple[int | str, ...], Any]] = []
    for error in raw:
        # Drop pydantic's internal union/literal tags so the path stays a
        # path in the user's YAML.
        loc = tuple(
            part
            for part in error["loc"]
            if not (
                isinstance(part, str) and ("[" in part or part.startswith("function-"))
            )
        )
        located.append((loc, error))
    missing = {loc for loc, error in located if error["type"] == "missing"}
    folded: set[tuple[int | str, ...]] = set()
    out: dict[tuple[int | str, ...], SpecError] = {}
    for loc, error in located:
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            close = difflib.get_close_matches(key, _keys_for(model, loc[:-1]), n=1)
            if close:
                message = f"unknown key {key!r}; did you mean {close[0]!r}?"
                # 'acessor' for 'accessor': one problem, not an unknown key
                # and a missing one.
                folded.add((*loc[:-1], close[0]))
            else:
                message = f"unknown key {key!r}{_belongs(key)}; see docs/schema.md"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif error["type"] == "literal_error":
            message = _literal_message(error, loc)
        elif "input" in error and not isinstance(error["input"], dict | list):
            message = f"{message}, got {_echo(error['input'])}"
        out.setdefault(loc, SpecError(file, _format_loc(loc), message))
    return [e for loc, e in out.items() if not (loc in missing and loc in folded)]


def _validate(model: type[BaseModel], data: Any, file: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise_all(_pydantic_errors(exc, file, model))
        raise  # unreachable: pydantic reports at least one error


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
    return _validate(model, _read_yaml(path, display), display)


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
