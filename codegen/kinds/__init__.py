"""Method kinds: one module per ``kind`` of ``repository.methods``.

Each module of this package (``lookup.py``, ``delete.py``, ...; modules
starting with ``_`` are helpers) owns one kind: its spec model ``Spec``
(the YAML keys it takes, ``kind: Literal["<name>"]``), its builder
``build`` (spec -> :class:`~codegen.ir.MethodIR` plus the SQL constants it
adds to the context) and the result ``SHAPE`` the templates render it with
(one of :data:`codegen.ir.SHAPES`). Modules are found by walking the package,
so adding a kind is adding a module: no list elsewhere names the kinds.

``MethodSpec`` is the union of every kind's ``Spec``, discriminated by
``kind``: a key a kind does not take is an error naming the key and the kind.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field

from codegen.ir import MethodIR
from codegen.kinds._builtin import builtin_methods as builtin_methods
from codegen.methods import Context
from codegen.spec_types import MethodBase


@dataclass(frozen=True)
class Kind:
    """One method kind as its module declares it."""

    name: str
    spec: type[MethodBase]
    shape: str
    build: Callable[..., MethodIR]
    doc: str


def _discover() -> dict[str, Kind]:
    found: dict[str, Kind] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec: type[MethodBase] = module.Spec
        name = spec.model_fields["kind"].annotation.__args__[0]  # type: ignore[union-attr]
        if name != info.name:
            raise RuntimeError(f"codegen/kinds/{info.name}.py declares kind {name!r}")
        found[name] = Kind(
            name, spec, module.SHAPE, module.build, (module.__doc__ or "").strip()
        )
    return found


KINDS: dict[str, Kind] = _discover()

if TYPE_CHECKING:
    MethodSpec = MethodBase
else:
    MethodSpec = Annotated[
        Union[tuple(k.spec for k in KINDS.values())],  # noqa: UP007
        Field(discriminator="kind"),
    ]


def kind_names() -> list[str]:
    """Every kind a method may declare, sorted."""
    return sorted(KINDS)


def kinds_taking(key: str) -> list[str]:
    """The kinds whose spec takes ``key`` (for "it is a key of ..." hints)."""
    return [k.name for k in KINDS.values() if key in k.spec.model_fields]


def spec_model(kind: str) -> type[MethodBase] | None:
    """The spec model of ``kind`` (None for an unknown kind)."""
    found = KINDS.get(kind)
    return None if found is None else found.spec


def declared_method(ctx: Context, name: str, spec: Any) -> MethodIR:
    """The IR of ``repository.methods.<name>``, built by its kind's module."""
    kind = KINDS[spec.kind]
    return kind.build(
        ctx,
        name,
        spec,
        f"repository.methods.{name}",
        f"_M_{name.upper()}",
        spec.description or f"{name} ({spec.kind}).",
    )
