"""One behavioural suite, every backend, every entity the schema declares.

The suite walks ``generated.manifest.ENTITIES``: a new entity in ``schema/``
is covered the moment it is generated, with no per-entity test code. Sample
rows are derived from each field's declared kind, bounds and pattern;
datetimes are given in a non-UTC zone so the round trip proves they come
back as the same instant in UTC. Rows an entity excludes from its lists
(``exclude``) and parents its foreign keys need are handled from the
manifest too.
"""

from __future__ import annotations

import itertools
import operator
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel

from synthorg.persistence import (
    ConstraintViolationError,
    DuplicateRecordError,
    PersistenceBackend,
    QueryError,
)
from synthorg.persistence.generated.manifest import ENTITIES, EntityInfo, FieldInfo

ROWS = 9
ZONE = ZoneInfo("Asia/Kolkata")  # +05:30: a non-UTC, non-whole-hour offset
BY_TABLE = {e.table: e for e in ENTITIES}
FILTERED = [e for e in ENTITIES if e.filter_spec is not None]
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ge": operator.ge,
    "gt": operator.gt,
    "le": operator.le,
    "lt": operator.lt,
}


def _value(field: FieldInfo, i: int, entity: EntityInfo) -> Any:
    """A valid value of ``field`` for row ``i``; non-unique values repeat so
    filters match several rows."""
    # The last column of a multi-column unique index varies per row too.
    unique = (
        field.name in entity.key
        or field.unique
        or any(len(u) > 1 and u[-1] == field.name for u in entity.unique_indexes)
    )
    n = i if unique else i % 3
    if field.optional and not unique and i % 4 == 3:
        return None
    kind = field.kind
    if kind == "enum":
        assert field.enum is not None
        members = list(field.enum)
        return members[n % len(members)]
    if kind in ("str", "text") and field.pattern is not None:
        return ("USD", "USD", "USD")[n]  # one currency: aggregates stay valid
    if kind == "str":
        if field.name in entity.key and len(entity.key) > 1:
            # Composite keys: the first part repeats so rows share it.
            n = i // 3 if entity.key.index(field.name) == 0 else i
        return f"{field.name}-{n:03d}"
    if kind == "text":
        return f"text {n} \u00e9\u00e8 \u2603 'quote' \"dq\""
    if kind == "int":
        if field.le is not None:  # stay inside [ge, le]
            return int(field.ge or 0) + n % (int(field.le) - int(field.ge or 0) + 1)
        return int(field.ge or 0) + n
    if kind == "float":
        if field.le is not None:  # distinct values inside [ge, le]
            low = float(field.ge or 0)
            return low + (float(field.le) - low) * (n + 1) / (ROWS + 2)
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
    """Row ``i`` of ``entity``.

    Only row 0 may match the predicate of a partial unique index (such as
    "at most one active row"): later rows that would match have a boolean of
    the predicate flipped.
    """
    data = {f.name: _value(f, i, entity) for f in entity.fields}
    for _columns, predicate in entity.partial_unique_indexes:
        if i > 0 and all(data[name] == value for name, value in predicate):
            name, value = next((n, v) for n, v in predicate if isinstance(v, bool))
            data[name] = not value
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


def listed(entity: EntityInfo, rows: list[BaseModel]) -> list[BaseModel]:
    """The rows list methods show: without ``exclude``d ones, in order."""
    kept = [
        r
        for r in rows
        if all(_sort_value(getattr(r, f)) != v for f, v in entity.exclude)
    ]
    return in_order(entity, kept)


def repo(backend: PersistenceBackend, entity: EntityInfo) -> Any:
    return getattr(backend, entity.accessor)


def is_append_only(entity: EntityInfo) -> bool:
    return "append_only" in entity.kinds


async def page(
    backend: PersistenceBackend, entity: EntityInfo, limit: int = 1000, offset: int = 0
) -> tuple[BaseModel, ...]:
    """One page of the entity's unfiltered listing."""
    r = repo(backend, entity)
    if is_append_only(entity):
        assert entity.filter_spec is not None
        result: tuple[BaseModel, ...] = await r.query(
            entity.filter_spec(), limit=limit, offset=offset
        )
        return result
    listing: tuple[BaseModel, ...] = await r.list_items(limit=limit, offset=offset)
    return listing


async def store(
    backend: PersistenceBackend, entity: EntityInfo, row: BaseModel
) -> None:
    r = repo(backend, entity)
    await (r.append(row) if is_append_only(entity) else r.save(row))


async def ensure_parents(
    backend: PersistenceBackend, entity: EntityInfo, rows: list[BaseModel]
) -> None:
    """Create the rows the foreign keys of ``rows`` point at."""
    for field, table, target in entity.foreign_keys:
        parent = BY_TABLE[table]
        values = sorted(
            {getattr(r, field) for r in rows if getattr(r, field) is not None}
        )
        existing = {getattr(p, target) for p in await page(backend, parent)}
        for j, value in enumerate(values):
            if value in existing:
                continue
            row = sample(parent, 500 + j).model_copy(update={target: value})
            await ensure_parents(backend, parent, [row])
            await store(backend, parent, row)


async def fill(backend: PersistenceBackend, entity: EntityInfo) -> list[BaseModel]:
    rows = [sample(entity, i) for i in range(ROWS)]
    await ensure_parents(backend, entity, rows)
    shuffled = list(rows)
    random.Random(7).shuffle(shuffled)  # insertion order must not matter
    for row in shuffled:
        await store(backend, entity, row)
    return rows


def _assert_utc(model: BaseModel) -> None:
    for name, value in model:
        if isinstance(value, datetime):
            assert value.utcoffset() == timedelta(0), f"{name} not read back in UTC"


@pytest.fixture(params=ENTITIES, ids=[e.accessor for e in ENTITIES])
def entity(request: pytest.FixtureRequest) -> EntityInfo:
    info: EntityInfo = request.param
    return info


# ------------------------------------------------------------ every entity


async def test_round_trip_every_field(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    rows = await fill(backend, entity)
    if is_append_only(entity):
        got = {key_of(entity, m): m for m in await page(backend, entity)}
        assert len(got) == ROWS
    for row in rows:
        if is_append_only(entity):
            back = got[key_of(entity, row)]
        else:
            back = await repo(backend, entity).get(key_of(entity, row))
        assert back == row  # aware datetimes compare as instants
        _assert_utc(back)


async def test_listing_order_and_windows(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    rows = await fill(backend, entity)
    expected = listed(entity, rows)
    assert list(await page(backend, entity)) == expected
    for limit in (1, 2, 4):
        pages: list[BaseModel] = []
        for offset in range(0, ROWS + limit, limit):
            window = await page(backend, entity, limit=limit, offset=offset)
            assert len(window) <= limit
            pages.extend(window)
        assert pages == expected
    assert await page(backend, entity, limit=3, offset=ROWS) == ()


@pytest.mark.parametrize(
    ("limit", "offset"),
    [(0, 0), (-1, 0), (True, 0), (1, -1), (1, True), (1.5, 0), ("10", 0), (None, 0)],
)
async def test_bad_pagination_is_a_query_error(
    backend: PersistenceBackend, entity: EntityInfo, limit: Any, offset: Any
) -> None:
    r = repo(backend, entity)
    if not is_append_only(entity):
        with pytest.raises(QueryError):
            await r.list_items(limit=limit, offset=offset)
    if entity.filter_spec is not None:
        with pytest.raises(QueryError):
            await r.query(entity.filter_spec(), limit=limit, offset=offset)


# ------------------------------------------------------------ id-keyed


ID_KEYED = [e for e in ENTITIES if "id_keyed" in e.kinds]


@pytest.mark.parametrize("entity", ID_KEYED, ids=[e.accessor for e in ID_KEYED])
async def test_get_missing_returns_none(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    await fill(backend, entity)
    missing = sample(entity, ROWS + 50)
    assert await repo(backend, entity).get(key_of(entity, missing)) is None


@pytest.mark.parametrize("entity", ID_KEYED, ids=[e.accessor for e in ID_KEYED])
async def test_save_is_an_upsert(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    rows = await fill(backend, entity)
    target = rows[2]
    donor = sample(entity, 4)  # different non-key values
    fk_fields = {f for f, _, _ in entity.foreign_keys}
    changed = target.model_copy(
        update={
            f.name: getattr(donor, f.name)
            for f in entity.fields
            if f.name not in entity.key and not f.unique and f.name not in fk_fields
        }
    )
    await repo(backend, entity).save(changed)
    assert await repo(backend, entity).get(key_of(entity, target)) == changed
    assert len(await repo(backend, entity).list_items(limit=1000)) == len(
        listed(entity, rows)
    )


@pytest.mark.parametrize("entity", ID_KEYED, ids=[e.accessor for e in ID_KEYED])
async def test_delete_true_then_false(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    rows = await fill(backend, entity)
    r = repo(backend, entity)
    key = key_of(entity, rows[1])
    assert await r.delete(key) is True
    assert await r.get(key) is None
    assert await r.delete(key) is False
    assert await r.get(key_of(entity, rows[2])) == rows[2]


# ------------------------------------------------------------ append-only


APPEND_ONLY = [e for e in ENTITIES if is_append_only(e)]


@pytest.mark.parametrize("entity", APPEND_ONLY, ids=[e.accessor for e in APPEND_ONLY])
async def test_append_refuses_an_existing_id(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    rows = await fill(backend, entity)
    donor = sample(entity, 5)
    changed = donor.model_copy(update={k: getattr(rows[3], k) for k in entity.key})
    for duplicate in (rows[3], changed):
        with pytest.raises(DuplicateRecordError):
            await repo(backend, entity).append(duplicate)
    assert list(await page(backend, entity)) == listed(entity, rows)  # unchanged


@pytest.mark.parametrize("entity", APPEND_ONLY, ids=[e.accessor for e in APPEND_ONLY])
async def test_purge_before(backend: PersistenceBackend, entity: EntityInfo) -> None:
    rows = await fill(backend, entity)
    tf = entity.time_field
    assert tf is not None
    threshold = sorted(getattr(r, tf) for r in rows)[4]
    older = [r for r in rows if getattr(r, tf) < threshold]
    assert older, "samples should span the threshold"
    r = repo(backend, entity)
    with pytest.raises(QueryError):
        await r.purge_before(threshold.replace(tzinfo=None))
    assert len(await page(backend, entity)) == ROWS  # the refusal deleted nothing
    assert await r.purge_before(threshold) == len(older)
    remaining = [m for m in rows if m not in older]
    assert list(await page(backend, entity)) == listed(entity, remaining)
    assert await r.purge_before(threshold) == 0


# ------------------------------------------------------------ filters


def _matches(entity: EntityInfo, row: BaseModel, values: dict[str, Any]) -> bool:
    for flt in entity.filters:
        if flt.name not in values:
            continue
        actual = getattr(row, flt.field)
        if flt.flag is not None:
            if actual != flt.flag:
                return False
        elif actual is None or not OPS[flt.op](
            _sort_value(actual), _sort_value(values[flt.name])
        ):
            return False
    return True


@pytest.mark.parametrize("entity", FILTERED, ids=[e.accessor for e in FILTERED])
async def test_every_filter_alone_and_combined(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    rows = await fill(backend, entity)
    assert entity.filter_spec is not None
    r = repo(backend, entity)
    names = [flt.name for flt in entity.filters]
    combos = [
        c for n in range(len(names) + 1) for c in itertools.combinations(names, n)
    ]
    counts = "filtered_query" in entity.kinds
    checked = 0
    for combo in combos:
        for probe in rows:
            values = {
                flt.name: True if flt.flag is not None else getattr(probe, flt.field)
                for flt in entity.filters
                if flt.name in combo
            }
            if any(v is None for v in values.values()):
                continue
            expected = listed(entity, [x for x in rows if _matches(entity, x, values)])
            spec = entity.filter_spec(**values)
            assert list(await r.query(spec, limit=1000)) == expected, values
            if counts:
                assert await r.count(spec) == len(expected), values
            paged: list[BaseModel] = []
            for offset in range(0, len(expected) + 2, 2):
                paged.extend(await r.query(spec, limit=2, offset=offset))
            assert paged == expected, values
            checked += 1
            break
    assert checked >= len(names)
    if counts:
        assert await r.count(entity.filter_spec()) == len(listed(entity, rows))


@pytest.mark.parametrize("entity", FILTERED, ids=[e.accessor for e in FILTERED])
async def test_filter_matching_nothing(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    await fill(backend, entity)
    assert entity.filter_spec is not None
    r = repo(backend, entity)
    for flt in entity.filters:
        info = next(f for f in entity.fields if f.name == flt.field)
        if info.kind in ("str", "text") and flt.op == "eq":
            spec = entity.filter_spec(**{flt.name: "no-such-value"})
            assert await r.query(spec) == ()
            if "filtered_query" in entity.kinds:
                assert await r.count(spec) == 0


# ------------------------------------------------------------ bulk paths


async def _bulk_store(
    backend: PersistenceBackend, entity: EntityInfo, rows: list[BaseModel]
) -> None:
    r = repo(backend, entity)
    await (r.append_many(rows) if is_append_only(entity) else r.save_many(rows))


async def test_bulk_write_lands_every_row(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    rows = [sample(entity, i) for i in range(ROWS)]
    await ensure_parents(backend, entity, rows)
    await _bulk_store(backend, entity, rows)
    assert list(await page(backend, entity)) == listed(entity, rows)
    await _bulk_store(backend, entity, [])  # an empty batch is a no-op


# Append-only batches can repeat a key; upserts absorb repeated keys, so only
# an entity with a unique non-key field can make a save_many batch clash.
CLASHING = [
    e
    for e in ENTITIES
    if is_append_only(e) or any(f.unique and f.name not in e.key for f in e.fields)
]


@pytest.mark.parametrize("entity", CLASHING, ids=[e.accessor for e in CLASHING])
async def test_bulk_write_with_a_duplicate_writes_nothing(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    rows = [sample(entity, i) for i in range(ROWS)]
    await ensure_parents(backend, entity, rows)
    before = list(await page(backend, entity))
    expected: type[Exception]
    if is_append_only(entity):
        batch = [*rows[:5], rows[2]]  # a key twice in the batch
        expected = DuplicateRecordError
    else:
        # Upserts absorb repeated keys; a unique non-key value must clash,
        # which the reference files as a ConstraintViolationError naming it.
        clash = rows[1].model_copy(update={k: getattr(rows[6], k) for k in entity.key})
        batch = [*rows[:3], clash]
        expected = ConstraintViolationError
    with pytest.raises(expected) as caught:
        await _bulk_store(backend, entity, batch)
    assert type(caught.value) is expected
    assert "nothing was written" in str(caught.value)
    if expected is ConstraintViolationError:
        assert isinstance(caught.value, ConstraintViolationError)
        assert caught.value.constraint.startswith(f"ux_{entity.table}_")
    assert list(await page(backend, entity)) == before


@pytest.mark.parametrize("entity", ID_KEYED, ids=[e.accessor for e in ID_KEYED])
async def test_large_save_many_upserts_and_last_repeat_wins(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    """A batch past PostgreSQL's COPY-staging threshold keeps upsert semantics."""
    rows = [sample(entity, i) for i in range(100)]
    await ensure_parents(backend, entity, rows)
    r = repo(backend, entity)
    await r.save_many(rows)
    donor = sample(entity, 4)
    fk_fields = {f for f, _, _ in entity.foreign_keys}
    changed = [
        row.model_copy(
            update={
                f.name: getattr(donor, f.name)
                for f in entity.fields
                if f.name not in entity.key and not f.unique and f.name not in fk_fields
            }
        )
        for row in rows[:70]
    ]
    # rows[0] twice: the later (changed) one must win, as with executemany.
    await r.save_many([rows[0], *changed])
    stored = {key_of(entity, m): m for m in await r.list_items(limit=1000)}
    expected = {key_of(entity, m): m for m in [*changed, *rows[70:]]}
    visible = {k: v for k, v in expected.items() if v in listed(entity, [v])}
    assert stored == visible
