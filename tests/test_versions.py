"""The generic version repository, for every ``*_versions`` accessor.

The suite walks ``generated.manifest.VERSIONS``: a new accessor declared in
``schema/_versions.yaml`` is covered the moment it is generated, on both
backends, with no per-accessor test code. Sample snapshots are built from
the versioned model's fields (value models: from ``model_fields``, within
each field's bounds and pattern; entity models such as WorkflowDefinition:
with the conformance suite's ``sample``). Snapshot timestamps are given in a
non-UTC zone so the round trip proves they come back as the same instant in
UTC.
"""

from __future__ import annotations

import asyncio
import enum
import random
import re
import sqlite3
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Union, get_args, get_origin
from zoneinfo import ZoneInfo

import annotated_types
import psycopg
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from synthorg.persistence import (
    DEFAULT_VERSION_PAGE_SIZE,
    PersistenceBackend,
    PersistenceConfig,
    PersistenceConnectionError,
    QueryError,
    VersionRepository,
    VersionSnapshot,
    content_hash,
    create_backend,
)
from synthorg.persistence.generated.manifest import ENTITIES, VERSIONS
from synthorg.persistence.versions import VersionSql
from tests.test_conformance import sample as sample_entity
from tests.test_index_backed import (
    format_pg_plan,
    postgres_plan,
    postgres_plan_problems,
    sqlite_plan,
    sqlite_plan_problems,
)

ZONE = ZoneInfo("America/St_Johns")  # -03:30 / -02:30: non-UTC, non-whole-hour
ENTITY_BY_MODEL = {e.model: e for e in ENTITIES}
PATTERNED = ("USD", "EUR", "GBP", "abc", "x-1")  # candidates for ``pattern`` fields


# ---------------------------------------------------------------------------
# Sample models, derived from the versioned model's declaration
# ---------------------------------------------------------------------------


def _bounds(metadata: list[Any]) -> tuple[float | None, float | None]:
    low = high = None
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            low = float(item.ge)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Gt):
            low = float(item.gt) + 1  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Le):
            high = float(item.le)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Lt):
            high = float(item.lt) - 1  # type: ignore[arg-type]
    return low, high


def _pattern(metadata: list[Any]) -> str | None:
    for item in metadata:
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            return pattern
    return None


def _value(name: str, annotation: Any, metadata: list[Any], i: int) -> Any:
    """A valid value of one field for sample ``i`` (distinct per ``i``)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        return _value(name, inner, [*metadata, *extra], i)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        assert len(options) == 1, f"{name}: unsupported union {annotation}"
        if i % 3 == 2:  # optional fields are sometimes left empty
            return None
        return _value(name, options[0], metadata, i)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return next(iter(annotation))
    if annotation is bool:
        return i % 2 == 0
    if annotation in (int, float):
        low, high = _bounds(metadata)
        low = 0.0 if low is None else low
        if annotation is int:
            span = None if high is None else int(high - low) + 1
            return int(low) + (i if span is None else i % span)
        if high is None:
            return low + i + 0.25
        return low + (high - low) * (i % 10 + 1) / 12
    if annotation is str:
        pattern = _pattern(metadata)
        if pattern is None:
            return f"{name}-{i:03d} \u00e9 'q'"
        matching = [c for c in PATTERNED if re.fullmatch(pattern, c)]
        assert matching, f"{name}: no sample matches {pattern!r}"
        return matching[i % len(matching)]
    if annotation is datetime:
        return datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=ZONE) + timedelta(hours=i)
    if origin is dict:
        return {"k": i, "nested": {"list": [1, "two", None, True]}}
    if origin is tuple:
        return (f"a{i}", "b")
    raise AssertionError(f"{name}: no sample for {annotation!r}")


def make_model(model: type[BaseModel], i: int) -> BaseModel:
    """Sample ``i`` of ``model``: every field set, different for every ``i``."""
    entity = ENTITY_BY_MODEL.get(model)
    if entity is not None:
        return sample_entity(entity, i)
    fields: dict[str, FieldInfo] = model.model_fields
    data = {
        name: _value(name, info.annotation, list(info.metadata), i)
        for name, info in fields.items()
    }
    return model.model_validate(data)


def snap(
    model: type[BaseModel],
    entity_id: str,
    version: int,
    i: int | None = None,
    saved_by: str = "tester",
) -> VersionSnapshot[Any]:
    """A snapshot of sample ``i`` (default: ``version``) saved in a non-UTC zone."""
    content = make_model(model, version if i is None else i)
    return VersionSnapshot[model](  # type: ignore[valid-type]
        entity_id=entity_id,
        version=version,
        content_hash=content_hash(content),
        snapshot=content,
        saved_by=saved_by,
        saved_at=datetime(2026, 4, 2, 23, 45, 1, 654321, tzinfo=ZONE)
        + timedelta(minutes=version),
    )


@pytest.fixture(params=VERSIONS, ids=[accessor for accessor, _ in VERSIONS])
def versioned(request: pytest.FixtureRequest) -> tuple[str, type[BaseModel]]:
    accessor, model = request.param
    return accessor, model


def repo_of(backend: PersistenceBackend, accessor: str) -> VersionRepository[Any]:
    repository: VersionRepository[Any] = getattr(backend, accessor)
    return repository


# ---------------------------------------------------------------------------
# Pure: the samples and content_hash
# ---------------------------------------------------------------------------


def test_every_declared_accessor_is_walked() -> None:
    """The manifest lists each accessor once, and the backends expose them."""
    accessors = [a for a, _ in VERSIONS]
    assert len(accessors) == len(set(accessors))
    assert "workflow_versions" in accessors
    assert "ontology_versions" in accessors
    for accessor in accessors:
        assert hasattr(PersistenceBackend, accessor), accessor


def test_samples_are_distinct(versioned: tuple[str, type[BaseModel]]) -> None:
    _, model = versioned
    hashes = {content_hash(make_model(model, i)) for i in range(6)}
    assert len(hashes) == 6


def test_content_hash_is_stable_and_content_sensitive(
    versioned: tuple[str, type[BaseModel]],
) -> None:
    _, model = versioned
    first = make_model(model, 1)
    again = model.model_validate(first.model_dump())  # equal, separately built
    digest = content_hash(first)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert content_hash(again) == digest
    assert content_hash(make_model(model, 1)) == digest
    assert content_hash(make_model(model, 2)) != digest
    # Changing any one string field changes the hash.
    name = next(
        n for n, v in first.model_dump().items() if isinstance(v, str) and "-" in v
    )
    changed = first.model_copy(update={name: getattr(first, name) + "x"})
    assert content_hash(changed) != digest
    # The snapshot helper computes the same digest.
    assert VersionSnapshot.of("e", 1, first, "me").content_hash == digest


# ---------------------------------------------------------------------------
# Behaviour, every accessor on both backends
# ---------------------------------------------------------------------------


async def test_save_version_is_insert_or_ignore(
    backend: PersistenceBackend, versioned: tuple[str, type[BaseModel]]
) -> None:
    accessor, model = versioned
    repo = repo_of(backend, accessor)
    first = snap(model, "ent-1", 1, i=1, saved_by="alice")
    second = snap(model, "ent-1", 1, i=2, saved_by="bob")
    assert first.content_hash != second.content_hash
    assert await repo.save_version(first) is True
    assert await repo.save_version(second) is False
    assert await repo.save_version(first) is False
    assert await repo.get_version("ent-1", 1) == first
    assert await repo.count_versions("ent-1") == 1


async def test_snapshot_round_trip(
    backend: PersistenceBackend, versioned: tuple[str, type[BaseModel]]
) -> None:
    accessor, model = versioned
    repo = repo_of(backend, accessor)
    saved = snap(model, "ent \u00e9 'q' \"dq\"", 3, i=4)
    assert await repo.save_version(saved) is True
    back = await repo.get_version("ent \u00e9 'q' \"dq\"", 3)
    assert back is not None
    assert back == saved  # model equality; aware datetimes compare as instants
    assert type(back.snapshot) is model
    assert back.snapshot == saved.snapshot
    assert back.saved_at.utcoffset() == timedelta(0)
    assert back.saved_at == saved.saved_at
    assert back.saved_by == "tester"
    # The stored JSON hashes to the recorded digest (nothing altered in storage).
    assert content_hash(back.snapshot) == back.content_hash == saved.content_hash


async def test_get_version_and_latest(
    backend: PersistenceBackend, versioned: tuple[str, type[BaseModel]]
) -> None:
    accessor, model = versioned
    repo = repo_of(backend, accessor)
    snaps = {v: snap(model, "ent-a", v) for v in (1, 2, 3, 10)}
    for version in (3, 10, 1, 2):  # insertion order must not matter
        assert await repo.save_version(snaps[version]) is True
    await repo.save_version(snap(model, "ent-b", 99))
    assert await repo.get_version("ent-a", 2) == snaps[2]
    assert await repo.get_version("ent-a", 10) == snaps[10]
    assert await repo.get_version("ent-a", 4) is None
    assert await repo.get_version("ent-a", 99) is None  # ent-b's version
    assert await repo.get_version("missing", 1) is None
    assert await repo.get_latest_version("ent-a") == snaps[10]
    latest_b = await repo.get_latest_version("ent-b")
    assert latest_b is not None and latest_b.version == 99
    assert await repo.get_latest_version("missing") is None


async def test_get_by_content_hash_is_the_newest_match(
    backend: PersistenceBackend, versioned: tuple[str, type[BaseModel]]
) -> None:
    accessor, model = versioned
    repo = repo_of(backend, accessor)
    a1 = snap(model, "ent", 1, i=1)
    b2 = snap(model, "ent", 2, i=2)
    a3 = snap(model, "ent", 3, i=1)  # same content as version 1
    c4 = snap(model, "ent", 4, i=3)
    other = snap(model, "other", 7, i=1)  # same content, other entity
    for s in (a3, c4, other, a1, b2):
        assert await repo.save_version(s) is True
    assert a1.content_hash == a3.content_hash
    assert await repo.get_by_content_hash("ent", a1.content_hash) == a3
    assert await repo.get_by_content_hash("ent", b2.content_hash) == b2
    assert await repo.get_by_content_hash("other", a1.content_hash) == other
    assert await repo.get_by_content_hash("ent", "0" * 64) is None
    assert await repo.get_by_content_hash("missing", a1.content_hash) is None


async def test_list_versions_newest_first_default_limit_and_paging(
    backend: PersistenceBackend, versioned: tuple[str, type[BaseModel]]
) -> None:
    accessor, model = versioned
    repo = repo_of(backend, accessor)
    total = DEFAULT_VERSION_PAGE_SIZE + 5
    versions = list(range(1, total + 1))
    random.Random(3).shuffle(versions)
    for version in versions:
        assert await repo.save_version(snap(model, "ent", version, i=version % 7))
    await repo.save_version(snap(model, "other", total + 1))
    assert DEFAULT_VERSION_PAGE_SIZE == 50
    page = await repo.list_versions("ent")
    assert [s.version for s in page] == list(range(total, total - 50, -1))
    assert page[0] == snap(model, "ent", total, i=total % 7)
    assert all(s.entity_id == "ent" for s in page)
    seen: list[int] = []
    for offset in range(0, total + 10, 10):
        window = await repo.list_versions("ent", limit=10, offset=offset)
        assert len(window) <= 10
        seen.extend(s.version for s in window)
    assert seen == list(range(total, 0, -1))
    tail = await repo.list_versions("ent", limit=100, offset=50)
    assert [s.version for s in tail] == [5, 4, 3, 2, 1]
    assert await repo.list_versions("ent", limit=5, offset=total) == ()
    assert await repo.list_versions("missing") == ()
    assert await repo.count_versions("ent") == total


@pytest.mark.parametrize(
    ("limit", "offset"),
    [(0, 0), (-1, 0), (True, 0), (1.5, 0), ("10", 0), (None, 0), (1, -1), (1, True)],
)
async def test_list_versions_bad_window_is_a_query_error(
    backend: PersistenceBackend,
    versioned: tuple[str, type[BaseModel]],
    limit: Any,
    offset: Any,
) -> None:
    accessor, model = versioned
    repo = repo_of(backend, accessor)
    await repo.save_version(snap(model, "ent", 1))
    with pytest.raises(QueryError):
        await repo.list_versions("ent", limit=limit, offset=offset)


async def test_count_and_delete_versions_for_entity(
    backend: PersistenceBackend, versioned: tuple[str, type[BaseModel]]
) -> None:
    accessor, model = versioned
    repo = repo_of(backend, accessor)
    for version in (1, 2, 3):
        await repo.save_version(snap(model, "gone", version))
    for version in (1, 2):
        await repo.save_version(snap(model, "kept", version))
    assert await repo.count_versions("gone") == 3
    assert await repo.count_versions("kept") == 2
    assert await repo.count_versions("missing") == 0
    assert await repo.delete_versions_for_entity("gone") == 3
    assert await repo.count_versions("gone") == 0
    assert await repo.get_latest_version("gone") is None
    assert await repo.delete_versions_for_entity("gone") == 0
    assert await repo.count_versions("kept") == 2
    assert await repo.get_version("kept", 2) == snap(model, "kept", 2)
    # A deleted version number can be saved again.
    assert await repo.save_version(snap(model, "gone", 1, i=5)) is True
    assert await repo.get_version("gone", 1) == snap(model, "gone", 1, i=5)


async def test_concurrent_saves_of_one_version_insert_once(
    backend: PersistenceBackend, versioned: tuple[str, type[BaseModel]]
) -> None:
    accessor, model = versioned
    repo = repo_of(backend, accessor)
    contenders = [snap(model, "race", 1, i=i, saved_by=f"w{i}") for i in range(20)]
    results = await asyncio.gather(*(repo.save_version(s) for s in contenders))
    assert sum(results) == 1
    winner = contenders[results.index(True)]
    assert await repo.get_version("race", 1) == winner
    assert await repo.count_versions("race") == 1


INT64_OVERFLOW = 2**63  # one past the largest BIGINT / SQLite INTEGER


@pytest.mark.parametrize("where", ["limit", "offset"])
async def test_out_of_range_window_is_a_query_error(
    backend: PersistenceBackend, versioned: tuple[str, type[BaseModel]], where: str
) -> None:
    accessor, model = versioned
    repo = repo_of(backend, accessor)
    await repo.save_version(snap(model, "ent", 1))
    window = {"limit": 1, "offset": 0, where: INT64_OVERFLOW}
    with pytest.raises(QueryError):
        await repo.list_versions("ent", **window)


async def test_out_of_range_version_is_a_query_error(
    backend: PersistenceBackend, versioned: tuple[str, type[BaseModel]]
) -> None:
    accessor, model = versioned
    repo = repo_of(backend, accessor)
    content = make_model(model, 0)
    largest = VersionSnapshot.of("ent", INT64_OVERFLOW - 1, content, "me")
    assert await repo.save_version(largest) is True
    assert await repo.get_latest_version("ent") == largest
    with pytest.raises(QueryError):
        await repo.save_version(
            VersionSnapshot.of("ent", INT64_OVERFLOW, content, "me")
        )
    assert await repo.count_versions("ent") == 1


async def test_accessors_refuse_before_connect_and_after_disconnect(
    backend_config: PersistenceConfig, versioned: tuple[str, type[BaseModel]]
) -> None:
    accessor, model = versioned
    instance = create_backend(backend_config)
    with pytest.raises(PersistenceConnectionError):
        getattr(instance, accessor)
    await instance.connect()
    try:
        await instance.migrate()
        repo = repo_of(instance, accessor)
        assert await repo.save_version(snap(model, "e", 1)) is True
    finally:
        await instance.disconnect()
    with pytest.raises(PersistenceConnectionError):
        getattr(instance, accessor)


# ---------------------------------------------------------------------------
# Every version statement is index-backed (planned on a migrated database)
# ---------------------------------------------------------------------------

#: ``VersionSql`` attributes that look rows up (INSERT is keyed by the PK).
LOOKUPS = ("get", "latest", "get_by_hash", "list", "count", "delete")


def _version_statements(table: str, ph: str, *, returning: bool) -> Iterator[str]:
    sql = VersionSql(table, ph, returning_deletes=returning)
    for name in LOOKUPS:
        yield getattr(sql, name)


def _equality_columns(sql: str) -> list[str]:
    """Columns the statement pins to a bound value (``"col" = ?``)."""
    return re.findall(r'"(\w+)" = (?:\?|%s)', sql)


def _sqlite_unsought(sql: str, plan: list[str]) -> list[str]:
    """Equality columns no ``SEARCH ... USING ... INDEX`` seeks on.

    The shared checker accepts a seek on a prefix plus a row filter (e.g.
    ``entity_id`` only, then filtering ``content_hash`` row by row); here
    every pinned column must be part of the index seek.
    """
    seeks = " ".join(d for d in plan if d.startswith("SEARCH") and "INDEX" in d)
    return [c for c in _equality_columns(sql) if f"{c}=?" not in seeks]


def _postgres_unsought(sql: str, plan: dict[str, Any]) -> list[str]:
    conds: list[str] = []
    stack = [plan]
    while stack:
        node = stack.pop()
        conds.append(str(node.get("Index Cond", "")))
        stack.extend(node.get("Plans", ()))
    seeks = " ".join(conds)
    return [c for c in _equality_columns(sql) if f"({c} = $" not in seeks]


async def test_version_statements_are_index_backed(
    backend: PersistenceBackend, versioned: tuple[str, type[BaseModel]]
) -> None:
    table, _ = versioned  # the accessor names its table
    failures: list[str] = []
    if backend.kind == "sqlite":
        db = sqlite3.connect(backend.config.path)  # type: ignore[union-attr]
        try:
            tables = {
                str(r[0])
                for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            assert table in tables
            for statement in _version_statements(table, "?", returning=True):
                plan = sqlite_plan(db, statement)
                problems = sqlite_plan_problems(statement, plan, tables)
                problems += [
                    f"{c} not sought" for c in _sqlite_unsought(statement, plan)
                ]
                if problems:
                    failures.append(f"{statement}\n  {problems}\n  {plan}")
        finally:
            db.close()
    else:
        kwargs = backend.config.conninfo_kwargs()  # type: ignore[union-attr]
        with psycopg.connect(**kwargs, autocommit=True, prepare_threshold=None) as pg:
            pg.execute("SET enable_seqscan = off")
            pg.execute("SET enable_sort = off")
            pg.execute("SET plan_cache_mode = force_generic_plan")
            for statement in _version_statements(table, "%s", returning=False):
                plan = postgres_plan(pg, statement)
                problems = postgres_plan_problems(statement, plan)
                problems += [
                    f"{c} not sought" for c in _postgres_unsought(statement, plan)
                ]
                if problems:
                    failures.append(
                        f"{statement}\n  {problems}\n{format_pg_plan(plan)}"
                    )
    assert not failures, "\n".join(failures)


def test_version_sql_refuses_bad_table_names() -> None:
    for bad in ('x"; DROP TABLE t; --', "Upper", "", "1abc", "a" * 64):
        with pytest.raises(ValueError, match="invalid version table name"):
            VersionSql(bad, "?", returning_deletes=True)


def test_saved_at_defaults_to_now_in_utc() -> None:
    _, model = VERSIONS[0]
    before = datetime.now(UTC)
    snapshot = VersionSnapshot.of("e", 1, make_model(model, 0), "me")
    assert before <= snapshot.saved_at <= datetime.now(UTC)
    assert snapshot.saved_at.utcoffset() == timedelta(0)
