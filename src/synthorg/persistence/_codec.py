"""Value codecs shared by the generated repositories of both dialects.

Kept tiny and dependency-free because they run once per column per row on
the hot path.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from synthorg.persistence.errors import InvalidValueError, MalformedRowError
from synthorg.persistence.types import VALIDATED as VALIDATED
from synthorg.persistence.types import check_json, text_problem

M = TypeVar("M", bound=BaseModel)
_SURROGATE = re.compile("[\ud800-\udfff]")
E = TypeVar("E", bound=Enum)

_DUMPS = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode
json_loads = json.loads


def json_dumps(value: Any) -> str:
    """Compact JSON text; NaN/Infinity are refused so every dialect can read it."""
    return _DUMPS(value)


def utc_now() -> datetime:
    """The current instant as an aware UTC datetime (model default factory)."""
    return datetime.now(UTC)


def dt_to_text(value: datetime) -> str:
    """Fixed-width ISO-8601 UTC text (32 characters), so text order is time order.

    Naive datetimes are refused at the model boundary (``AwareDatetime``);
    the check here guards the filter and method parameters too.
    ``isoformat`` zero-pads the year (``0999-...``), which ``strftime("%Y")``
    does not, and is about twice as fast.
    """
    if value.tzinfo is not UTC:
        if value.utcoffset() is None:
            raise ValueError("naive datetime: a timezone-aware datetime is required")
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


class Unreadable:
    """A stored value the driver could not decode, in place of that value.

    Only the slow path of a failed read produces it (a re-read with a
    lenient decoder: SQLite text that is not valid UTF-8, a PostgreSQL
    timestamp outside years 1-9999). No model accepts it, so the row's
    ``_from_row`` reports the column through :func:`malformed_row`.
    """

    __slots__ = ("raw", "reason")

    def __init__(self, raw: object, reason: str) -> None:
        self.raw = raw
        self.reason = reason

    def __repr__(self) -> str:
        return f"<{self.reason}: {_short(self.raw)}>"


_SHOWN = 80  # characters of a stored value quoted in a message
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _unreadable_key(value: object, blob: Iterable[int], index: int) -> bool:
    return isinstance(value, Unreadable) or (type(value) is bytes and index not in blob)


def malformed_row(
    exc: BaseException,
    row: Sequence[Any],
    *,
    table: str,
    columns: Iterable[str],
    key: Sequence[int],
    json: Iterable[int] = (),
    blob: Iterable[int] = (),
) -> MalformedRowError:
    """The error of a row ``_from_row`` could not read, naming what is wrong.

    Runs only after the fast path failed, so it may take its time: it looks
    for values the driver could not decode (:class:`Unreadable`), BLOBs in
    text columns (``bytes`` outside the ``blob`` indexes), JSON that does
    not parse (the ``json`` indexes are decoded again one by one) and the
    fields a pydantic ``ValidationError`` names. ``key`` holds the indexes
    of the primary-key columns; ``columns`` the column names in row order
    (a model's ``model_fields``: the generated rows follow its fields).
    """
    columns = tuple(columns)
    values = tuple(row)
    blob = tuple(blob)
    problems: dict[int, list[str]] = {}
    for i, value in enumerate(values):
        if isinstance(value, Unreadable):
            problems.setdefault(i, []).append(repr(value)[1:-1])
        elif type(value) is bytes and i not in blob:
            problems.setdefault(i, []).append(
                f"a BLOB where text is expected: {_short(value)}"
            )
    if not problems:
        for i in json:
            value = values[i]
            if value is None:
                continue
            try:
                json_loads(value)
            except (ValueError, TypeError) as decode_error:
                problems.setdefault(i, []).append(f"invalid JSON: {decode_error}")
    if not problems and isinstance(exc, ValidationError):
        for detail in exc.errors(include_url=False, include_context=False):
            loc = detail.get("loc") or ()
            name = loc[0] if loc else None
            if isinstance(name, str) and name in columns:
                where = ".".join(str(part) for part in loc[1:])
                text = detail["msg"] + (f" (at {where})" if where else "")
                problems.setdefault(columns.index(name), []).append(
                    f"{text}: {_short(detail.get('input'))}"
                )
            elif not loc:
                # A rule across fields ("a must differ from b"): the columns
                # its message names.
                words = set(_WORD.findall(detail["msg"]))
                for i, column in enumerate(columns):
                    if column in words:
                        problems.setdefault(i, []).append(
                            f"{detail['msg']}: {_short(values[i])}"
                        )
    named = [columns[i] for i in sorted(problems)]
    if len(named) == 1:
        reason = "; ".join(problems[columns.index(named[0])])
    elif named:
        reason = "; ".join(
            f"{columns[i]!r}: " + "; ".join(problems[i]) for i in sorted(problems)
        )
    else:
        reason = f"cannot be read: {exc}"
    parts = [values[i] for i in key]
    readable = not any(_unreadable_key(values[i], blob, i) for i in key)
    row_key: object = None
    if readable and parts:
        row_key = parts[0] if len(parts) == 1 else tuple(parts)
    shown = repr(row_key) if readable and parts else "<unreadable key>"
    where = ""
    if len(named) == 1:
        where = f" column {named[0]!r}"
    elif named:
        where = " columns " + ", ".join(repr(n) for n in named)
    return MalformedRowError(
        f"{table} row {shown}{where}: {reason}",
        table=table,
        key=row_key,
        columns=named,
    )


# ---------------------------------------------------------------- refusals
#
# Everything below raises InvalidValueError (non-retryable) naming
# "<table>.<field or argument>", before any SQL runs. Models enforce the same
# domains through the types in synthorg.persistence.types; these checks
# cover what never went through a model: entities built with
# ``model_construct`` or changed by ``model_copy(update=...)``, and the raw
# arguments of repository methods.

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _refuse(field: str, what: str, value: Any) -> InvalidValueError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return InvalidValueError(f"{field}: {what}, got {shown}", field=field)


def revalidate(model: type[M], entity: Any, table: str) -> M:
    """Validate an entity that carries no validation stamp.

    Raises :class:`InvalidValueError` naming ``<table>.<field>`` (the first
    field pydantic refused) instead of pydantic's ``ValidationError``.
    """
    data = entity.__dict__ if isinstance(entity, BaseModel) else entity
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        loc = errors[0]["loc"] if errors else ()
        field = f"{table}.{loc[0]}" if loc else table
        detail = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or model.__name__}: {e['msg']}"
            for e in errors[:3]
        )
        raise InvalidValueError(
            f"{field}: refused {model.__name__} ({detail})", field=field
        ) from None


def arg_text(value: Any, field: str) -> str:
    """A text argument: a ``str`` without NUL or lone surrogates."""
    if type(value) is not str and not isinstance(value, str):
        raise _refuse(field, "a str is required", value)
    problem = text_problem(value)
    if problem is not None:
        raise _refuse(field, problem, value)
    return value


def arg_str(value: Any, field: str, pattern: str | None = None) -> str:
    """A ``NotBlankStr`` argument (and its declared pattern, if any)."""
    arg_text(value, field)
    if not value.strip():
        raise _refuse(field, "must not be blank or whitespace-only", value)
    if pattern is not None and re.search(pattern, value) is None:
        raise _refuse(field, f"must match {pattern}", value)
    return value  # type: ignore[no-any-return]


def arg_int(
    value: Any, field: str, low: int = _INT64_MIN, high: int = _INT64_MAX
) -> int:
    """An int argument within ``[low, high]`` (64-bit signed at most)."""
    if type(value) is not int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _refuse(field, "an int is required", value)
        value = int(value)
    if not low <= value <= high:
        raise _refuse(field, f"must be within [{low}, {high}]", value)
    return int(value)


def arg_float(
    value: Any,
    field: str,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> float:
    """A finite float argument within its declared bounds; ``-0.0`` -> ``0.0``."""
    if type(value) is not float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refuse(field, "a float is required", value)
        try:
            value = float(value)
        except OverflowError:
            raise _refuse(field, "must be a finite float", value) from None
    if not math.isfinite(value):
        raise _refuse(field, "must be a finite float", value)
    if (
        (ge is not None and not value >= ge)
        or (gt is not None and not value > gt)
        or (le is not None and not value <= le)
        or (lt is not None and not value < lt)
    ):
        bounds = ", ".join(
            f"{op} {b}"
            for op, b in ((">=", ge), (">", gt), ("<=", le), ("<", lt))
            if b is not None
        )
        raise _refuse(field, f"must be {bounds}", value)
    return float(value) + 0.0


def arg_bool(value: Any, field: str) -> bool:
    """A bool argument (``1`` and ``"yes"`` are refused)."""
    if type(value) is not bool:
        raise _refuse(field, "a bool is required", value)
    return value


def arg_time(value: Any, field: str) -> datetime:
    """An aware datetime argument within years 1-9999 UTC, as UTC."""
    if not isinstance(value, datetime):
        raise _refuse(field, "a datetime is required", value)
    if value.utcoffset() is None:
        raise _refuse(field, "a timezone-aware datetime is required", value)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise _refuse(
            field, "the instant in UTC must fall within years 1-9999", value
        ) from None


def arg_enum(value: Any, enum: type[E], field: str) -> E:
    """A member of ``enum`` (or one of its values)."""
    if type(value) is enum:
        return value
    try:
        return enum(value)
    except (ValueError, TypeError):
        raise _refuse(field, f"must be a {enum.__name__} value", value) from None


def arg_json(value: Any, field: str, kind: str = "json") -> Any:
    """A JSON argument both backends store exactly (see ``check_json``)."""
    shape: type | tuple[type, ...] = dict if kind == "json" else (list, tuple)
    if not isinstance(value, shape):
        raise _refuse(field, f"a {kind} value is required", value)
    try:
        return check_json(value)
    except ValueError as exc:
        raise _refuse(field, str(exc), value) from None


def arg_bytes(value: Any, field: str) -> bytes:
    """A bytes argument."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise _refuse(field, "bytes are required", value)
    return bytes(value)


def before_now(unit: str, amount: Any, field: str) -> datetime:
    """``utc_now()`` minus ``amount`` ``unit`` (an ``ago`` condition's bound)."""
    amount = arg_int(amount, field)
    try:
        return utc_now() - timedelta(**{unit: amount})
    except OverflowError:
        raise _refuse(field, f"{unit} reaches outside years 1-9999", amount) from None


_SUSPECT = ("\\u0000", "e+", "-0.0")  # in the text: NUL, a float >= 1e16, -0.0


def json_text(value: Any, field: str) -> str:
    """The JSON text of a field value, refused unless both backends keep it.

    One C-speed dump (SQLite stores this text; PostgreSQL receives it as
    ``jsonb``) and a scan of the text: only when it shows a NUL escape, an
    exponent (a float of 1e16 or more, which ``jsonb`` would read back as an
    int of another value), a ``-0.0`` or a lone surrogate does the value get
    walked (:func:`~synthorg.persistence.types.check_json`), so a string
    that merely contains ``"e+"`` costs a walk and nothing else. NaN and
    infinities are refused by the dump itself. ``-0.0`` becomes ``0.0``.
    """
    try:
        text = _DUMPS(value)
    except ValueError:  # NaN / Infinity (allow_nan=False) or a cycle
        raise _refuse(field, "JSON numbers must be finite", value) from None
    except TypeError as exc:
        raise _refuse(field, f"not JSON: {exc}", value) from None
    if not (
        _SUSPECT[0] in text
        or _SUSPECT[1] in text
        or _SUSPECT[2] in text
        or (not text.isascii() and _SURROGATE.search(text) is not None)
    ):
        return text
    try:
        checked = check_json(value)
    except ValueError as exc:
        raise _refuse(field, str(exc), value) from None
    return text if checked is value else _DUMPS(checked)
