"""The building blocks every spec model shares: errors, identifiers, predicates.

:class:`SpecError` (and :class:`SpecErrors`, several at once) is how every
stage reports a problem in the YAML; :class:`Strict` is the frozen,
``extra="forbid"`` base of every spec model. The method-level pieces used by
more than one method kind live here too (``ConditionSpec`` for ``where``,
``SetSpec`` for ``set``, ``OrderItem``) together with :class:`MethodBase`,
the base of each kind's spec model in :mod:`codegen.kinds`. Nothing here
imports another codegen module, so :mod:`codegen.spec` and the kind modules
can both build on it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
CLASS_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")


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


class Strict(BaseModel):
    """Frozen, strict, and a key the model does not declare is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


Identifier = Annotated[str, Field(pattern=IDENTIFIER.pattern, max_length=63)]
ClassName = Annotated[str, Field(pattern=CLASS_NAME.pattern)]


OrderItem = Annotated[str, Field(pattern=r"^-?[a-z_][a-z0-9_]*$")]


class ConditionSpec(Strict):
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


class SetSpec(Strict):
    """What an ``update`` method writes into one column."""

    param: Identifier | None = None
    value: str | int | bool | None = None
    now: bool = False
    allowed: list[str | int | bool] = Field(default_factory=list)


class MethodBase(Strict):
    """What every method kind's spec has: its ``kind`` and a ``description``.

    Each kind module (:mod:`codegen.kinds`) subclasses it with
    ``kind: Literal["<its name>"]`` and the keys that kind takes; the union
    of those models, discriminated by ``kind``, is ``MethodSpec``.
    """

    kind: str
    description: str = ""

    def field_refs(self) -> list[tuple[str, str]]:
        """(YAML path suffix, field name) of every field the method names."""
        refs: list[tuple[str, str]] = []
        for key in type(self).model_fields:
            value = getattr(self, key)
            if key in ("by", "scope", "optional"):
                refs += [(f"{key}[{i}]", n) for i, n in enumerate(value)]
            elif key == "where":
                refs += [(f"where[{i}].field", c.field) for i, c in enumerate(value)]
            elif key == "set":
                refs += [(f"set.{n}", n) for n in value]
            elif key == "order":
                refs += [(f"order[{i}]", n.lstrip("-")) for i, n in enumerate(value)]
            elif key in ("after", "version", "sum", "single", "returning") and value:
                refs.append((key, value))
        return refs

    def literals(self, path: str) -> list[tuple[str, str, Any]]:
        """(YAML path, field, value) of every literal the method compares with."""
        where: list[ConditionSpec] = getattr(self, "where", [])
        sets: dict[str, SetSpec] = getattr(self, "set", {})
        out: list[tuple[str, str, Any]] = [
            (f"{path}.where[{i}].value", c.field, c.value) for i, c in enumerate(where)
        ]
        for fname, entry in sets.items():
            out.append((f"{path}.set.{fname}.value", fname, entry.value))
            out += [
                (f"{path}.set.{fname}.allowed[{i}]", fname, v)
                for i, v in enumerate(entry.allowed)
            ]
        return out
