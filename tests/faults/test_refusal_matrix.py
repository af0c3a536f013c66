"""Refusal matrix: what the read path refuses, the write path refuses first.

Walks ``generated.manifest.ENTITIES``, so a new entity is covered the moment
it is generated:

* every model field, every value the model refuses, smuggled in through
  ``model_construct`` (which skips validation): ``save``/``append`` and the
  bulk ``save_many``/``append_many`` (one bad entity among good ones) raise
  a non-retryable :class:`InvalidValueError` naming ``<table>.<field>`` and
  store nothing;
* every raw argument of the repository methods (``get``/``delete`` keys,
  declared methods, custom bodies): refused values raise the same error
  naming the argument, and the table is unchanged;
* property tests (hypothesis, both backends): the edge values the model
  accepts (datetime extremes and odd offsets, ints near +-2**63, JSON
  floats, -0.0, astral-plane text, empty strings) round-trip exactly (==
  and same type); what it refuses is refused on both backends alike.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel, JsonValue, ValidationError

from synthorg.persistence import InvalidValueError, PersistenceBackend
from synthorg.persistence.generated.manifest import ENTITIES, EntityInfo, FieldInfo
from synthorg.persistence.types import NotBlankStr, Text, Timestamp
from tests.faults._soak import report, soak_factor
from tests.test_conformance import ensure_parents, page, sample, store

FAR_EAST = timezone(timedelta(hours=5, minutes=30))
FAR_WEST = timezone(timedelta(hours=-5))
WIDE = timezone(timedelta(hours=23, minutes=59))  # beyond PostgreSQL's +-15:59
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------- values

JSON_KINDS = ("json", "list[str]", "list[int]", "list[json]")


def refused_values(field: FieldInfo) -> list[Any]:
    """Values of ``field``'s kind the model refuses (and no backend could read)."""
    kind = field.kind
    values: list[Any]
    if kind == "str":
        values = ["", "   ", "a\x00b", "\ud800", 12]
        if field.pattern is not None:
            values.append("not-the-pattern")
    elif kind == "text":
        values = ["a\x00b", "\udfff", 12]
    elif kind == "int":
        values = [2**63, -(2**63) - 1, 1.5, "many"]
        if field.ge is not None:
            values.append(int(field.ge) - 1)
        if field.le is not None:
            values.append(int(field.le) + 1)
    elif kind == "float":
        values = [math.nan, math.inf, -math.inf, "many"]
        if field.ge is not None:
            values.append(float(field.ge) - 1.0)
        if field.le is not None:
            values.append(float(field.le) + 1.0)
    elif kind == "bool":
        values = ["maybe", 2]
    elif kind == "datetime":
        values = [
            datetime(2026, 1, 1),
            datetime(1, 1, 1, tzinfo=FAR_EAST),  # before year 1 in UTC
            datetime(9999, 12, 31, 23, tzinfo=FAR_WEST),  # after year 9999 in UTC
            "yesterday",
        ]
    elif kind == "enum":
        values = ["no-such-member", 42]
    elif kind == "json":
        values = [
            {"k": math.nan},
            {"k": math.inf},
            {"k": 1e23},  # jsonb would read back an int of another value
            {"k\x00": 1},
            {"k": "a\x00"},
            {"\ud800": 1},
            {"k": ["\udfff"]},
            "not an object",
        ]
    elif kind == "list[str]":
        values = [("a\x00",), ("\ud800",), (1,)]
    elif kind == "list[int]":
        values = [("x",), (1.5,)]
    elif kind == "list[json]":
        values = [({"k": math.nan},), (1e16,), ("a\x00",)]
    elif kind == "bytes":
        values = [12, 1.5]
    else:  # pragma: no cover - a new kind needs its refused values here
        raise AssertionError(f"no refused values for kind {kind}")
    return values


def _refused_by_model(
    entity: EntityInfo, good: BaseModel, name: str, value: Any
) -> bool:
    try:
        entity.model.model_validate({**good.__dict__, name: value})
    except ValidationError:
        return True
    return False


def _keyed(entity: EntityInfo, row: BaseModel, i: int) -> BaseModel:
    """``row`` with a key of its own (str key and unique fields get a suffix)."""
    unique = set(entity.key) | {f.name for f in entity.fields if f.unique}
    for columns in entity.unique_indexes:
        unique |= set(columns)
    update = {
        k: f"{getattr(row, k)}-{i}" for k in unique if isinstance(getattr(row, k), str)
    }
    return type(row).model_validate({**row.__dict__, **update})


async def _write(repo: Any, entity: EntityInfo, bulk: bool, rows: list[Any]) -> None:
    append = "append_only" in entity.kinds
    if bulk:
        await (repo.append_many(rows) if append else repo.save_many(rows))
    else:
        assert len(rows) == 1
        await (repo.append(rows[0]) if append else repo.save(rows[0]))


def _check(error: InvalidValueError, field: str) -> None:
    assert error.field == field, f"{field}: named {error.field!r} ({error})"
    assert error.is_retryable is False


@pytest.mark.parametrize("entity", ENTITIES, ids=[e.table for e in ENTITIES])
async def test_model_fields_refuse_what_the_model_refuses(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    repo = getattr(backend, entity.accessor)
    good = sample(entity, 0)
    others = [
        _keyed(entity, sample(entity, 1), 1),
        _keyed(entity, sample(entity, 2), 2),
    ]
    before = await page(backend, entity)
    tried = 0
    for field in entity.fields:
        for value in refused_values(field):
            smuggled = entity.model.model_construct(
                **{**good.__dict__, field.name: value}
            )
            bads = [smuggled]
            if not _refused_by_model(entity, good, field.name, value):
                # JSON content is checked where it is serialised (both
                # backends share that code): a validated entity holding
                # 1e23 or NUL is refused at write just the same.
                assert field.kind in JSON_KINDS, (
                    f"{entity.table}.{field.name} accepts {value!r}"
                )
                bads.append(
                    entity.model.model_validate({**good.__dict__, field.name: value})
                )
            for bad in bads:
                for bulk, rows in (
                    (False, [bad]),
                    (True, [others[0], bad, others[1]]),
                ):
                    with pytest.raises(InvalidValueError) as info:
                        await _write(repo, entity, bulk, rows)
                    _check(info.value, f"{entity.table}.{field.name}")
                    tried += 1
    # model_copy(update=...) copies without validating: refused the same way.
    field = next(f for f in entity.fields if refused_values(f))
    copied = good.model_copy(update={field.name: refused_values(field)[0]})
    with pytest.raises(InvalidValueError) as info:
        await _write(repo, entity, False, [copied])
    _check(info.value, f"{entity.table}.{field.name}")
    assert await page(backend, entity) == before == ()
    report(f"refusal matrix {entity.table}", trials=tried, acknowledged=0, lost=0)


# ------------------------------------------------------- method arguments

SKIP_PARAMS = {"limit", "offset", "batch_size"}  # pagination, not fields


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(the hint without ``| None``, whether None is allowed)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (
        typing.Union,
        __import__("types").UnionType,
    ):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return inner[0], True
    return hint, False


def _kind(hint: Any) -> str | None:
    if hint == NotBlankStr:
        return "str"
    if hint == Text or hint is str:
        return "text"
    if hint in (Timestamp, AwareDatetime) or hint is datetime:
        return "datetime"
    if hint is bool:
        return "bool"
    if hint is int:
        return "int"
    if hint is float:
        return "float"
    if hint == dict[str, JsonValue]:
        return "json"
    if isinstance(hint, type) and issubclass(hint, Enum):
        return "enum"
    return None


def _valid(kind: str, hint: Any) -> Any:
    return (
        {
            "str": "USD",  # non-blank, and matches the one pattern (^[A-Z]{3}$)
            "text": "x",
            "datetime": NOW,
            "bool": False,
            "int": 1,
            "float": 1.0,
            "json": {},
        }.get(kind)
        if kind != "enum"
        else next(iter(hint))
    )


def _bad(kind: str) -> list[Any]:
    return {
        "str": ["", " ", "a\x00", "\ud800", 7],
        "text": ["a\x00", "\udfff", 7],
        "datetime": [
            datetime(2026, 1, 1),
            datetime(1, 1, 1, tzinfo=FAR_EAST),
            "now",
        ],
        "bool": [1, "yes"],
        # (not -2**63 - 1: an "ago" argument <= 0 documentedly deletes nothing)
        "int": [2**63, True, 1.5],
        "float": [math.nan, math.inf, True, "1"],
        "json": [{"k": math.nan}, {"k": 1e23}, {"k": "\x00"}, []],
        "enum": ["no-such-member"],
    }[kind]


def _methods(entity: EntityInfo, repo: Any) -> list[tuple[str, Callable[..., Any]]]:
    names = [name for name, _kind in entity.methods]
    if "id_keyed" in entity.kinds:
        names += ["get", "delete"]
    return [(name, getattr(repo, name)) for name in names]


async def _pass_guards(
    method: Callable[..., Any],
    valid: dict[str, Any],
    kinds: dict[str, tuple[str, Any]],
    entity: EntityInfo,
) -> None:
    """Pick enum arguments a method's ``allowed`` guard accepts.

    Probed with a refused value in another argument, so every probe is
    refused before any SQL and the table stays as it was.
    """
    others = [n for n, (kind, _) in kinds.items() if kind in ("str", "text")]
    for pname, (kind, hint) in kinds.items():
        probe = next((n for n in others if n != pname), None)
        if kind != "enum" or probe is None:
            continue
        for member in hint:
            args = {**valid, pname: member, probe: "\x00"}
            try:
                await method(**args)
            except InvalidValueError as exc:
                if exc.field == f"{entity.table}.{probe}":
                    valid[pname] = member
                    break


@pytest.mark.parametrize("entity", ENTITIES, ids=[e.table for e in ENTITIES])
async def test_method_arguments_refuse_what_the_field_refuses(
    backend: PersistenceBackend, entity: EntityInfo
) -> None:
    repo = getattr(backend, entity.accessor)
    seeded = sample(entity, 0)
    await ensure_parents(backend, entity, [seeded])
    await store(backend, entity, seeded)
    before = await page(backend, entity)
    custom = {name for name, kind in entity.methods if kind == "custom"}
    tried = 0
    for name, method in _methods(entity, repo):
        hints = typing.get_type_hints(method, include_extras=True)
        params = [
            p
            for p in inspect.signature(method).parameters.values()
            if p.name not in SKIP_PARAMS
        ]
        valid: dict[str, Any] = {}
        kinds: dict[str, tuple[str, Any]] = {}
        usable = True
        for p in params:
            hint, _optional = _unwrap(hints[p.name])
            kind = _kind(hint)
            if kind is None:
                if p.name == "entity_id" and typing.get_origin(hint) is tuple:
                    continue  # composite key: covered below
                if isinstance(hint, type) and issubclass(hint, BaseModel):
                    valid[p.name] = seeded
                    continue
                usable = False  # Sequence/Mapping parameters: not a raw value
                break
            kinds[p.name] = (kind, hint)
            valid[p.name] = _valid(kind, hint)
        if not usable:
            continue
        await _pass_guards(method, valid, kinds, entity)
        for pname, (kind, _hint) in kinds.items():
            # A compare-and-set's expected version: "" means "must not exist".
            blank_ok = pname.startswith("expected_") and kind == "str"
            for value in _bad("text" if blank_ok else kind):
                args = {**valid, pname: value}
                if "entity_id" not in args and any(
                    p.name == "entity_id" for p in params
                ):
                    args["entity_id"] = tuple(
                        _valid(*kinds.get(k, ("str", None))) for k in entity.key
                    )
                with pytest.raises(InvalidValueError) as info:
                    await method(**args)
                label = info.value.field
                assert info.value.is_retryable is False
                if name in custom:
                    assert label.startswith(f"{entity.table}."), (name, pname, label)
                else:
                    assert label == f"{entity.table}.{pname}", (name, pname, label)
                tried += 1
        # A composite key: each part checked, naming its field.
        if any(p.name == "entity_id" for p in params) and len(entity.key) > 1:
            for i, part in enumerate(entity.key):
                key = ["USD"] * len(entity.key)
                key[i] = "a\x00"
                with pytest.raises(InvalidValueError) as info:
                    await method(**{**valid, "entity_id": tuple(key)})
                _check(info.value, f"{entity.table}.{part}")
                tried += 1
        # A method taking an entity refuses an unvalidated bad one.
        entity_params = [
            p.name
            for p in params
            if p.name not in kinds and p.name != "entity_id" and p.name in valid
        ]
        for pname in entity_params:
            field = next(f for f in entity.fields if f.name not in entity.key)
            bad_value = refused_values(field)[0]
            bad = entity.model.model_construct(
                **{**seeded.__dict__, field.name: bad_value}
            )
            with pytest.raises(InvalidValueError) as info:
                await method(**{**valid, pname: bad})
            _check(info.value, f"{entity.table}.{field.name}")
            tried += 1
    assert await page(backend, entity) == before
    report(f"argument matrix {entity.table}", trials=tried, acknowledged=0, lost=0)


# ------------------------------------------------------ round-trip property

EXAMPLES = 12 * soak_factor()

TEXTS = st.one_of(
    st.text(max_size=12),
    st.text(
        alphabet=st.sampled_from("a \x00\ud800\udfff\U0001d11e\U0010ffff\u00e9\t"),
        max_size=6,
    ),
    st.sampled_from(["", " ", "\x00", "\ud800", "\U0001f600", "a" * 300]),
)
INTS = st.one_of(
    st.integers(),
    st.integers(min_value=2**63 - 3, max_value=2**63 + 3),
    st.integers(min_value=-(2**63) - 3, max_value=-(2**63) + 3),
)
FLOATS = st.one_of(
    st.floats(),
    st.sampled_from(
        [
            -0.0,
            0.0,
            5e-324,
            -5e-324,
            1e-7,
            2.5e-300,
            1e16,
            -1e16,
            1e23,
            9999999999999998.0,
            1.7976931348623157e308,
            math.nan,
            math.inf,
        ]
    ),
)
OFFSETS = st.builds(
    timezone,
    st.timedeltas(
        min_value=-timedelta(hours=23, minutes=59, seconds=59),
        max_value=timedelta(hours=23, minutes=59, seconds=59),
    ),
)
DATETIMES = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59, 59, 999999),
        timezones=OFFSETS,
    ),
    st.sampled_from(
        [
            datetime(1, 1, 1, tzinfo=UTC),
            datetime(1, 1, 1, tzinfo=FAR_EAST),
            datetime(1, 1, 1, 12, tzinfo=FAR_EAST),
            datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(9999, 12, 31, 23, tzinfo=FAR_WEST),
            datetime(2026, 6, 1, tzinfo=WIDE),
        ]
    ),
)
JSON_LEAVES = st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXTS)
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3)
    ),
    max_leaves=6,
)
STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "str": TEXTS,
    "text": TEXTS,
    "int": INTS,
    "float": FLOATS,
    "datetime": DATETIMES,
    "json": st.dictionaries(TEXTS, JSON, max_size=3),
    "list[str]": st.lists(TEXTS, max_size=3).map(tuple),
    "list[json]": st.lists(JSON, max_size=3).map(tuple),
}


def _target(kind: str) -> tuple[EntityInfo, FieldInfo]:
    """An id_keyed entity without foreign keys and a plain field of ``kind``
    (unbounded if there is one; out-of-bounds draws are refused alike)."""
    for bounded in (False, True):
        for entity in ENTITIES:
            if "id_keyed" not in entity.kinds or entity.foreign_keys:
                continue
            row = sample(entity, 0)
            if any(not isinstance(getattr(row, k), str) for k in entity.key):
                continue
            for field in entity.fields:
                if (
                    field.kind == kind
                    and field.name not in entity.key
                    and not field.unique
                    and field.pattern is None
                    and (bounded or (field.le is None and field.ge is None))
                    and all(field.name not in u for u in entity.unique_indexes)
                    and all(field.name != f for f, _ in entity.exclude)
                ):
                    return entity, field
    raise AssertionError(f"no entity with a plain {kind} field")


def _examples(kind: str) -> list[Any]:
    """The same examples for both backends (derandomized hypothesis draws)."""
    drawn: list[Any] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(STRATEGIES[kind])
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn


def same(a: Any, b: Any) -> bool:
    """Equal and of the same type, all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, Sequence) and not isinstance(a, str | bytes):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
async def test_accepted_values_round_trip_exactly(
    backend: PersistenceBackend, kind: str
) -> None:
    entity, field = _target(kind)
    repo = getattr(backend, entity.accessor)
    base = sample(entity, 0)
    accepted = refused = 0
    rows: list[BaseModel] = []
    for i, value in enumerate(_examples(kind)):
        data = {**_keyed(entity, base, i).__dict__, field.name: value}
        try:
            row = entity.model.model_validate(data)
        except ValidationError:
            # Refused by the model, so by both backends alike: also when the
            # value is smuggled in, naming the field, nothing written.
            bad = entity.model.model_construct(**data)
            with pytest.raises(InvalidValueError) as info:
                await repo.save(bad)
            _check(info.value, f"{entity.table}.{field.name}")
            refused += 1
            continue
        try:
            await repo.save(row)
        except InvalidValueError as exc:
            # JSON the model holds but jsonb could not return exactly: refused
            # by the shared serialiser, so by both backends alike.
            assert kind in JSON_KINDS, (kind, value, exc)
            _check(exc, f"{entity.table}.{field.name}")
            assert await repo.get(_key(entity, row)) is None
            refused += 1
            continue
        stored = await repo.get(_key(entity, row))
        assert stored is not None
        got = getattr(stored, field.name)
        assert same(got, getattr(row, field.name)), (kind, value, got)
        accepted += 1
        rows.append(row)
    # The bulk paths (COPY staging on PostgreSQL from 64 rows) bind the same.
    if rows:
        batch = [_keyed(entity, r, 1000 + i) for i, r in enumerate(rows)]
        batch = (batch * (64 // len(batch) + 1))[:64]
        batch = [_keyed(entity, r, 2000 + i) for i, r in enumerate(batch)]
        await repo.save_many(batch)
        for row in batch:
            stored = await repo.get(_key(entity, row))
            assert stored is not None
            assert same(getattr(stored, field.name), getattr(row, field.name))
    report(
        f"round trip {kind}",
        trials=accepted + refused,
        accepted=accepted,
        refused=refused,
        lost=0,
    )


def _key(entity: EntityInfo, row: BaseModel) -> Any:
    values = tuple(getattr(row, k) for k in entity.key)
    return values if len(values) > 1 else values[0]


# --------------------------------------------------- pinned regressions


async def test_wide_offsets_survive_the_copy_path(backend: PersistenceBackend) -> None:
    """Offsets beyond +-15:59 (Python allows +-23:59) on the COPY path too:
    save_many used to work at 63 rows and fail at 64 on PostgreSQL."""
    entity, field = _target("datetime")
    repo = getattr(backend, entity.accessor)
    when = datetime(2026, 6, 1, 0, 30, tzinfo=WIDE)
    for count in (63, 64, 65):
        rows = [
            type(r).model_validate({**r.__dict__, field.name: when})
            for r in (
                _keyed(entity, sample(entity, 0), count * 100 + i) for i in range(count)
            )
        ]
        await repo.save_many(rows)
        for row in rows[:: max(1, count // 4)]:
            stored = await repo.get(_key(entity, row))
            assert stored is not None
            assert getattr(stored, field.name) == when
            assert getattr(stored, field.name).utcoffset() == timedelta(0)


async def test_negative_zero_reads_back_as_zero(backend: PersistenceBackend) -> None:
    """-0.0 is stored as 0.0 by both backends, in float columns and in JSON."""
    for kind in ("float", "json"):
        entity, field = _target(kind)
        repo = getattr(backend, entity.accessor)
        value: Any = -0.0 if kind == "float" else {"z": -0.0, "l": [-0.0]}
        row = type(sample(entity, 0)).model_validate(
            {**_keyed(entity, sample(entity, 0), 7).__dict__, field.name: value}
        )
        await repo.save(row)
        stored = await repo.get(_key(entity, row))
        assert stored is not None
        got = getattr(stored, field.name)
        flat = got if kind == "float" else got["z"]
        assert flat == 0.0 and math.copysign(1.0, flat) == 1.0, (kind, got)


async def test_wrong_python_types_are_not_coerced_on_write(
    backend: PersistenceBackend,
) -> None:
    """PostgreSQL stored 1.5 in an int field as 2, a naive datetime as UTC."""
    entity = next(
        e
        for e in ENTITIES
        if "id_keyed" in e.kinds
        and not e.foreign_keys
        and any(f.kind == "int" for f in e.fields)
        and any(f.kind == "datetime" and not f.optional for f in e.fields)
    )
    repo = getattr(backend, entity.accessor)
    good = sample(entity, 0)
    int_field = next(f.name for f in entity.fields if f.kind == "int")
    dt_field = next(
        f.name for f in entity.fields if f.kind == "datetime" and not f.optional
    )
    for name, value in ((int_field, 1.5), (dt_field, datetime(2026, 1, 1))):
        bad = entity.model.model_construct(**{**good.__dict__, name: value})
        with pytest.raises(InvalidValueError) as info:
            await repo.save(bad)
        _check(info.value, f"{entity.table}.{name}")
    assert await repo.get(_key(entity, good)) is None


JSON_EXACT = [
    5e-324,
    -5e-324,
    1e-7,
    2.5e-300,
    0.1,
    1.0,
    9999999999999998.0,  # the largest double below 1e16
    -9999999999999998.0,
    2**63,
    -(2**63) - 1,
    10**30,  # ints of any size: jsonb numeric and SQLite text keep them
    "\U0001f600\U0010ffff",  # astral plane
    "",
    "\t\n\u2028",
]
JSON_REFUSED = [1e16, -1e16, 1e23, 1.7976931348623157e308, "\x00", "\ud800"]


async def test_json_edges_round_trip_or_are_refused(
    backend: PersistenceBackend,
) -> None:
    """Pinned JSON edges: PostgreSQL jsonb read 1e23 back as the int
    100000000000000000000000; now such floats are refused on both backends
    and everything else comes back equal and of the same type."""
    entity, field = _target("json")
    repo = getattr(backend, entity.accessor)
    base = sample(entity, 0)
    for i, value in enumerate(JSON_EXACT):
        row = entity.model.model_validate(
            {**_keyed(entity, base, i).__dict__, field.name: {"v": value, "l": [value]}}
        )
        await repo.save(row)
        stored = await repo.get(_key(entity, row))
        assert stored is not None
        assert same(getattr(stored, field.name), {"v": value, "l": [value]}), value
    for i, value in enumerate(JSON_REFUSED):
        row = entity.model.model_construct(
            **{**_keyed(entity, base, 100 + i).__dict__, field.name: {"v": value}}
        )
        with pytest.raises(InvalidValueError) as info:
            await repo.save(row)
        _check(info.value, f"{entity.table}.{field.name}")
        assert await repo.get(_key(entity, row)) is None


DATETIME_EXACT = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(1, 1, 1, 5, 30, tzinfo=FAR_EAST),  # year 1 midnight UTC
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(9999, 12, 31, 18, 59, 59, 999999, tzinfo=FAR_WEST),
    datetime(2026, 6, 1, 12, tzinfo=WIDE),
    datetime(2026, 6, 1, 12, tzinfo=timezone(-timedelta(hours=23, minutes=59))),
    datetime(2026, 6, 1, 12, tzinfo=timezone(timedelta(seconds=1, microseconds=1))),
]


async def test_datetime_edges_round_trip_in_columns(
    backend: PersistenceBackend,
) -> None:
    """Instants at the ends of years 1-9999 UTC and any offset Python allows
    come back as the same instant (in UTC), on single and bulk writes."""
    entity, field = _target("datetime")
    repo = getattr(backend, entity.accessor)
    base = sample(entity, 0)
    rows = [
        entity.model.model_validate(
            {**_keyed(entity, base, i).__dict__, field.name: value}
        )
        for i, value in enumerate(DATETIME_EXACT)
    ]
    for row in rows:
        await repo.save(row)
    await repo.save_many([_keyed(entity, r, 50 + i) for i, r in enumerate(rows)])
    for i, (row, value) in enumerate(zip(rows, DATETIME_EXACT, strict=True)):
        for key in (_key(entity, row), _key(entity, _keyed(entity, row, 50 + i))):
            stored = await repo.get(key)
            assert stored is not None
            got = getattr(stored, field.name)
            assert got == value and type(got) is datetime, (value, got)


async def test_version_snapshots_refuse_before_writing(
    backend: PersistenceBackend,
) -> None:
    """The generic version repositories: an unvalidated snapshot (or inner
    model), JSON jsonb could not keep, and refused lookup arguments."""
    from synthorg.persistence.generated.models import AgentIdentity
    from synthorg.persistence.versions import VersionSnapshot
    from tests.test_versions import make_model, snap

    repo = backend.identity_versions
    table = repo._name
    good = snap(AgentIdentity, "ent", 1)
    cases: list[tuple[Any, str]] = [
        (
            VersionSnapshot[AgentIdentity].model_construct(
                **{**good.__dict__, "saved_at": datetime(2026, 1, 1)}  # naive
            ),
            f"{table}.saved_at",
        ),
        (
            VersionSnapshot[AgentIdentity].model_construct(
                **{**good.__dict__, "entity_id": "a\x00"}
            ),
            f"{table}.entity_id",
        ),
        (
            good.model_copy(
                update={
                    "snapshot": AgentIdentity.model_construct(
                        **{**make_model(AgentIdentity, 1).__dict__, "agent_id": ""}
                    )
                }
            ),
            f"{table}.snapshot.agent_id",
        ),
        (
            good.model_copy(
                update={
                    "snapshot": make_model(AgentIdentity, 1).model_copy(
                        update={"personality": {"k": 1e23}}
                    )
                }
            ),
            f"{table}.snapshot",
        ),
    ]
    for bad, field in cases:
        with pytest.raises(InvalidValueError) as info:
            await repo.save_version(bad)
        _check(info.value, field)
    for call in (
        repo.get_version("a\x00", 1),
        repo.get_latest_version("\ud800"),
        repo.count_versions(""),
        repo.delete_versions_for_entity("a\x00"),
    ):
        with pytest.raises(InvalidValueError) as info:
            await call
        assert info.value.field == f"{table}.entity_id"
    assert await repo.count_versions("ent") == 0
    assert await repo.save_version(good) is True
    assert await repo.get_version("ent", 1) == good
