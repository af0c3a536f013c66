"""Value codecs shared by the generated repositories of both dialects.

Kept tiny and dependency-free because they run once per column per row on
the hot path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from synthorg.persistence.errors import MalformedRowError

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
