"""How a method's result comes back, and the per-call data its body reads.

:data:`SHAPES` is the closed set the templates switch on (as sqlc's
``:one``/``:many``/``:exec``/``:execrows``); every method kind
(:mod:`codegen.kinds`) declares the shape it renders with. A
:class:`Guard` is a check run before any SQL and a :class:`Variant` a
statement chosen per call: data, rendered by the templates' macros, never
Python source assembled as strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# How a method's result comes back (sqlc's :one/:many/:exec/:execrows):
# the templates switch on these, never on a kind's name.
#   one      an entity or None (first matching row)
#   many     a tuple of entities
#   value    one value read from one row (``decode`` says how)
#   rowcount the rows a write affected, as bool/int (None: one must match)
#   column   a tuple of one column's values (DELETE ... RETURNING col)
#   exec     a write of one entity, nothing returned
#   entity   a write returning the row it wrote
#   batch    a write of many entities in one transaction
#   custom   a hand-written body
#   stream   an async iterator of entities, read in keyset batches (iter_*)
Shape = Literal[
    "one",
    "many",
    "value",
    "rowcount",
    "column",
    "exec",
    "entity",
    "batch",
    "custom",
    "stream",
]
# How the ``value`` shape turns its row into the result: a count, a bool
# (EXISTS), whether an upsert created the row, a SUM refused when the rows
# hold several currencies, an increment refused when the currency differs.
Decode = Literal["", "int", "bool", "created", "mixed_sum", "kept_total"]
SHAPES: tuple[Shape, ...] = (
    "one",
    "many",
    "value",
    "rowcount",
    "column",
    "exec",
    "entity",
    "batch",
    "custom",
    "stream",
)


@dataclass(frozen=True)
class Guard:
    """A check run before any SQL, as data (rendered by the ``guard`` macro).

    ``all_none``: refuse when every one of ``params`` is None;
    ``not_in``: refuse when ``params[0]`` is not one of ``values`` (Python
    literals); ``not_positive``: return ``returns`` (no SQL) when
    ``params[0] <= 0``. Refusals raise InvalidValueError(``message``,
    field=``field``).
    """

    check: Literal["all_none", "not_in", "not_positive"]
    params: tuple[str, ...]
    message: str = ""
    field: str = ""
    values: tuple[str, ...] = ()
    returns: str = ""

    @property
    def raises(self) -> bool:
        return self.check != "not_positive"


@dataclass(frozen=True)
class Variant:
    """One statement a method may run, chosen by a parameter's value.

    Tried in order: ``param is None`` (``equals`` None), ``param == ""``
    (``equals`` ``'""'``), and the last (``param`` None) otherwise. ``args``
    names the bound tuple: the entity's columns, the method's binds, and/or
    ``limit``. ``settled`` marks a statement whose run is a success even when
    it reports no row (an unconditional upsert).
    """

    const: str
    args: Literal["entity", "bound", "limit", "bound_limit"]
    param: str | None = None
    equals: str | None = None
    note: str = ""
    settled: bool = False
