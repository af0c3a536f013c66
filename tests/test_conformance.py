"""One behavioural suite, every backend, every entity the schema declares.

The suite walks ``generated.manifest.ENTITIES``: a new entity in ``schema/``
is covered the moment it is generated, with no per-entity test code. Sample
rows are derived from each field's declared kind and bounds; datetimes are
given in a non-UTC zone so the round trip proves they come back as the same
instant in UTC.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel

from synthorg.persistence import PersistenceBackend, QueryError
from synthorg.persistence.generated.manifest import ENTITIES, EntityInfo, FieldInfo

ROWS = 9
ZONE = ZoneInfo("Asia/Kolkata")  # +05:30: a non-UTC, non-whole-hour offset
ENTITY_IDS = [e.accessor for e in ENTITIES]


def _value(field: FieldInfo, i: int, entity: EntityInfo) -> Any:
    """A valid value of ``field`` for row ``i``; non-key values repeat so
    filters match several rows."""
    unique = field.name in entity.key or field.unique
    n = i if unique else i % 3
    if field.optional and not unique and i % 4 == 3:
        return None
    kind = field.kind
    if kind == "enum":
        assert field.enum is not None
        members = list(field.enum)
        return members[n % len(members)]
    if kind == "str":
        # Composite keys: vary the first part slowly so rows share it.
        if field.name in entity.key and len(entity.key) > 1:
            n = i // 3 if entity.key.index(field.name) == 0 else i
        return f"{field.name}-{n:03d}"
    if kind == "text":
        return f"text {n} \u00e9\u00e8 \u2603 'quote' \"dq\""
    if kind == "int":
        return int(field.ge or 0) + n
    if kind == "float":
        return float(field.ge or 0) + n + 0.25
    if kind == "bool":
        return n % 2 == 0
    if kind == "datetime":
        base = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=ZONE)
        return base + timedelta(hours=n, microseconds=n)
    if kind == "bytes":
        return bytes([n, 0, 255])
    if kind == "json":
        return {"n": n, "nested": {"list": [1, "two", None, True, 2.5]}, "u": "\u00e9"}
    if kind == "list[str]":
        return (f"a{n}", "b")
    if kind == "list[int]":
        return (n, n + 1)
    if kind == "list[json]":
        return ({"k": n}, [1, 2], "s")
    raise AssertionError(f"no sample for kind {kind}")


def sample(entity: EntityInfo, i: int) -> BaseModel:
    """Row ``i`` of ``entity``."""
    data = {f.name: _value(f, i, entity) for f in entity.fields}
    return entity.model.model_validate(data)


def key_of(entity: EntityInfo, model: BaseModel) -> Any:
    values = tuple(getattr(model, k) for k in entity.key)
    return values if len(values) > 1 else values[0]


def _sort_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if hasattr(value, "value"):
        return value.value
    return value


def in_order(entity: EntityInfo, rows: list[BaseModel]) -> list[BaseModel]:
    """``rows`` in the declared ordering (stable sorts, last key first)."""
    ordered = list(rows)
    for name, descending in reversed(entity.order):
        ordered.sort(key=lambda m: _sort_value(getattr(m, name)), reverse=descending)
    return ordered


def repo(backend: PersistenceBackend, entity: EntityInfo) -> Any:
    return getattr(backend, entity.accessor)


async def _fill(backend: PersistenceBackend, entity: EntityInfo) -> list[BaseModel]:
    rows = [sample(entity, i) for i in range(ROWS)]
    shuffled = list(rows)
    random.Random(7).shuffle(shuffled)  # insertion order must not matter
    for row in shuffled:
        await repo(backend, entity).save(row)
    return rows


def _assert_utc(model: BaseModel) -> None:
    for name, value in model:
        if isinstance(value, datetime):
            assert value.utcoffset() == timedelta(0), f"{name} not read back in UTC"


@pytest.fixture(params=ENTITIES, ids=ENTITY_IDS)
def entity(request: pytest.FixtureRequest) -> EntityInfo:
    info: EntityInfo = request.param
    return info


async def test_round_trip_every_field(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    rows = await _fill(backend, entity)
    for row in rows:
        got = await repo(backend, entity).get(key_of(entity, row))
        assert got == row  # aware datetimes compare as instants
        _assert_utc(got)
        for name, value in row:
            if isinstance(value, datetime):
                assert getattr(got, name).astimezone(UTC) == value.astimezone(UTC)


async def test_get_missing_returns_none(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    await _fill(backend, entity)
    missing = sample(entity, ROWS + 50)
    assert await repo(backend, entity).get(key_of(entity, missing)) is None


async def test_save_is_an_upsert(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    rows = await _fill(backend, entity)
    target = rows[2]
    donor = sample(entity, 4)  # different non-key values
    changed = target.model_copy(
        update={
            f.name: getattr(donor, f.name)
            for f in entity.fields
            if f.name not in entity.key and not f.unique
        }
    )
    await repo(backend, entity).save(changed)
    assert await repo(backend, entity).get(key_of(entity, target)) == changed
    everything = await repo(backend, entity).list_items(limit=1000)
    assert len(everything) == ROWS


async def test_list_items_order_and_windows(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    rows = await _fill(backend, entity)
    expected = in_order(entity, rows)
    r = repo(backend, entity)
    assert list(await r.list_items()) == expected
    for limit in (1, 2, 4):
        pages: list[BaseModel] = []
        for offset in range(0, ROWS + limit, limit):
            page = await r.list_items(limit=limit, offset=offset)
            assert len(page) <= limit
            pages.extend(page)
        assert pages == expected
    assert await r.list_items(limit=3, offset=ROWS) == ()


async def test_delete_true_then_false(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    rows = await _fill(backend, entity)
    r = repo(backend, entity)
    key = key_of(entity, rows[1])
    assert await r.delete(key) is True
    assert await r.get(key) is None
    assert await r.delete(key) is False
    assert len(await r.list_items(limit=1000)) == ROWS - 1


@pytest.mark.parametrize(
    ("limit", "offset"),
    [(0, 0), (-1, 0), (True, 0), (1, -1), (1, True), (1.5, 0), ("10", 0), (None, 0)],
)
async def test_bad_pagination_is_a_query_error(
    backend: PersistenceBackend, entity: EntityInfo, limit: Any, offset: Any
) -> None:
    r = repo(backend, entity)
    with pytest.raises(QueryError):
        await r.list_items(limit=limit, offset=offset)
    if entity.filter_spec is not None:
        with pytest.raises(QueryError):
            await r.query(entity.filter_spec(), limit=limit, offset=offset)


FILTERED = [e for e in ENTITIES if e.filter_spec is not None]


@pytest.mark.parametrize("entity", FILTERED, ids=[e.accessor for e in FILTERED])
async def test_every_filter_alone_and_combined(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    rows = await _fill(backend, entity)
    assert entity.filter_spec is not None
    r = repo(backend, entity)
    names = [name for name, _ in entity.filters]
    combos = [
        combo
        for size in range(len(names) + 1)
        for combo in itertools.combinations(names, size)
    ]
    for combo in combos:
        # Take the filter values from a row, so each combination matches
        # something; then also a value no row has.
        probe = rows[4]
        values = {
            name: getattr(probe, field)
            for name, field in entity.filters
            if name in combo
        }
        if any(v is None for v in values.values()):
            continue
        spec = entity.filter_spec(**values)
        fields = dict(entity.filters)
        expected = in_order(
            entity,
            [
                row
                for row in rows
                if all(getattr(row, fields[n]) == v for n, v in values.items())
            ],
        )
        assert expected, f"sample rows should match {values}"
        assert list(await r.query(spec, limit=1000)) == expected, combo
        assert await r.count(spec) == len(expected), combo
        # count equals the number of rows query can page through.
        paged: list[BaseModel] = []
        for offset in range(0, len(expected) + 2, 2):
            paged.extend(await r.query(spec, limit=2, offset=offset))
        assert paged == expected, combo
    assert await r.count(entity.filter_spec()) == ROWS


@pytest.mark.parametrize("entity", FILTERED, ids=[e.accessor for e in FILTERED])
async def test_filter_matching_nothing(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    await _fill(backend, entity)
    assert entity.filter_spec is not None
    r = repo(backend, entity)
    for name, field in entity.filters:
        info = next(f for f in entity.fields if f.name == field)
        if info.kind in ("str", "text"):
            spec = entity.filter_spec(**{name: "no-such-value"})
            assert await r.query(spec) == ()
            assert await r.count(spec) == 0
