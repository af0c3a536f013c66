"""The one import point of generated code: the helpers its repositories run.

Generated repositories import every runtime helper they use from here (and
nothing else of the hand-written runtime but ``types``, ``errors``, the
repository protocols and the dialect drivers): the page-window check
(``limit`` up to :data:`MAX_PAGE_SIZE`), the per-combination filter SQL,
the keyset batches of the ``iter_*`` streams (defined in
:mod:`synthorg.persistence.keyset`), batch duplicate detection, the
aware-datetime check, and the value codecs (argument checks ``arg_*``, text and JSON
encoders, row revalidation). Helpers used only by generated code are
defined here; the codecs are defined in :mod:`synthorg.persistence._codec`,
which the hand-written runtime uses too, and re-exported.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from synthorg.persistence._codec import (
    VALIDATED,
    arg_bool,
    arg_bytes,
    arg_enum,
    arg_float,
    arg_int,
    arg_json,
    arg_str,
    arg_text,
    arg_time,
    before_now,
    dt_to_text,
    json_dumps,
    json_loads,
    json_text,
    malformed_row,
    revalidate,
    utc_now,
)
from synthorg.persistence.errors import InvalidValueError
from synthorg.persistence.keyset import (
    DEFAULT_BATCH_SIZE,
    MAX_BATCH_SIZE,
    Keyset,
    KeysetSql,
    check_batch_size,
)
from synthorg.persistence.repository_protocols import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_PAGE_SIZE",
    "MAX_BATCH_SIZE",
    "MAX_PAGE_SIZE",
    "VALIDATED",
    "FilterSql",
    "Keyset",
    "KeysetSql",
    "arg_bool",
    "arg_bytes",
    "arg_enum",
    "arg_float",
    "arg_int",
    "arg_json",
    "arg_str",
    "arg_text",
    "arg_time",
    "before_now",
    "check_batch_size",
    "check_pagination",
    "dt_to_text",
    "duplicate_keys",
    "json_dumps",
    "json_loads",
    "json_text",
    "malformed_row",
    "require_aware",
    "revalidate",
    "utc_now",
]


def check_pagination(limit: int, offset: int, stream: str = "") -> None:
    """Refuse a bad page window with :class:`InvalidValueError` before any SQL.

    ``limit`` is 1 to :data:`MAX_PAGE_SIZE` (a page is held in memory whole);
    ``stream`` names the method's ``iter_*`` sibling, which the error points
    at for reading more rows. ``bool`` is an ``int`` subclass, so
    ``limit=True`` would otherwise page by one row; it is refused explicitly.
    """
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE_SIZE:
        hint = ""
        if stream and type(limit) is int and limit > MAX_PAGE_SIZE:
            hint = f"; stream more rows than that with {stream}()"
        raise InvalidValueError(
            f"limit must be an int from 1 to {MAX_PAGE_SIZE}, got {limit!r}{hint}",
            field="limit",
        )
    if type(offset) is not int or offset < 0:
        raise InvalidValueError(
            f"offset must be an int >= 0, got {offset!r}", field="offset"
        )


class FilterSql:
    """The SQL of a filtered statement for each combination of set filters.

    A filter spec with ``n`` optional filters has ``2**n`` WHERE clauses; each
    is built once, on first use, and reused, so no call assembles SQL text.
    ``mask`` bit ``i`` is set when filter ``i`` is present.
    """

    __slots__ = (
        "_always",
        "_conditions",
        "_prefix",
        "_suffix",
        "_variants",
        "min_mask",
    )

    def __init__(
        self,
        prefix: str,
        conditions: tuple[str, ...],
        suffix: str,
        always: tuple[str, ...] = (),
        *,
        require_any: bool = False,
    ) -> None:
        self._prefix = prefix
        self._conditions = conditions
        self._suffix = suffix
        self._always = always
        # Callers guarantee a set filter (they raise before running SQL), so
        # the unfiltered variant is never built and needs no index.
        self.min_mask = 1 if require_any else 0
        self._variants: dict[int, str] = {}

    def __getitem__(self, mask: int) -> str:
        sql = self._variants.get(mask)
        if sql is None:
            parts = [c for i, c in enumerate(self._conditions) if mask >> i & 1]
            parts.extend(self._always)
            where = f" WHERE {' AND '.join(parts)}" if parts else ""
            sql = self._variants[mask] = f"{self._prefix}{where}{self._suffix}"
        return sql


def duplicate_keys(keys: Sequence[object]) -> list[object]:
    """Keys that occur more than once in a batch, in first-seen order."""
    seen: set[object] = set()
    dupes: dict[object, None] = {}
    for key in keys:
        if key in seen:
            dupes[key] = None
        seen.add(key)
    return list(dupes)


def require_aware(value: datetime) -> datetime:
    """Refuse a naive datetime argument with :class:`InvalidValueError`."""
    if value.utcoffset() is None:
        raise InvalidValueError(
            "a timezone-aware datetime is required, got a naive one",
            field="datetime",
        )
    return value
