"""Pydantic's validation errors as :class:`SpecError`s a person can act on.

Every problem of a file is reported at once, at its YAML path (pydantic's
union and kind tags removed: ``repository.methods.x.sum``, not
``...x.lookup.sum``), with a hint: the close key (``did you mean``), where a
misplaced key belongs, or, for a key another method kind takes, the kind
that was given and its keys. :class:`Vocabulary` is what the caller knows
about its models (every model, and the named homes of misplaced keys).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from codegen.kinds import kind_names, kinds_taking, spec_model
from codegen.spec_types import MethodBase, SpecError, did_you_mean, raise_all


@dataclass(frozen=True)
class Vocabulary:
    """The spec models keys are looked up in, and the homes named in hints."""

    known: tuple[type[BaseModel], ...]
    homes: dict[str, type[BaseModel]]


def _format_loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts)


def _known_keys(models: Sequence[type[BaseModel]]) -> set[str]:
    """Every key any spec model (or method kind) accepts, for hints."""
    models = [*models, *(m for k in kind_names() if (m := spec_model(k)))]
    return {name for model in models for name in model.model_fields}


def _kind_models(current: Any) -> dict[str, type[MethodBase]]:
    """The members of a union discriminated by ``kind``, by tag (or {})."""
    members = [a for a in get_args(current) if isinstance(a, type)]
    kinds = [a for a in members if issubclass(a, MethodBase)]
    if not kinds or len(kinds) != len(members):
        return {}
    return {get_args(a.model_fields["kind"].annotation)[0]: a for a in kinds}


def _model_at(
    model: type[BaseModel], loc: tuple[int | str, ...], kind: str | None = None
) -> Any:
    """The spec model (or type) that validates the value at ``loc``.

    A method's model is its kind's (``kind``; the first kind's if unknown).
    """
    current: Any = model
    for part in loc:
        while True:
            origin = get_origin(current)
            if origin is Annotated:
                current = get_args(current)[0]
            elif origin in (Union, UnionType):
                tagged = _kind_models(current)
                if kind in tagged:
                    current = tagged[kind]
                    continue
                models = [a for a in get_args(current) if isinstance(a, type)]
                models = [a for a in models if issubclass(a, BaseModel)]
                current = models[0] if models else None
            else:
                break
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            current = None if info is None else info.annotation
        elif get_origin(current) in (dict, list):
            current = get_args(current)[-1]
        else:
            return None
    return current


def _untag(
    model: type[BaseModel], loc: tuple[int | str, ...]
) -> tuple[tuple[int | str, ...], str | None]:
    """``loc`` without pydantic's kind tag (``methods.x.lookup.sum``), and the kind."""
    for i in range(len(loc) - 1):
        target = _model_at(model, loc[: i + 1])
        while get_origin(target) is Annotated:
            target = get_args(target)[0]
        if get_origin(target) in (Union, UnionType) and loc[i + 1] in _kind_models(
            target
        ):
            kind = str(loc[i + 1])
            return (*loc[: i + 1], *loc[i + 2 :]), kind
    return loc, None


def _keys_for(
    model: type[BaseModel],
    parent: tuple[int | str, ...],
    kind: str | None,
    known: Sequence[type[BaseModel]],
) -> list[str]:
    """Keys the mapping at ``parent`` accepts (every known key if unsure)."""
    target = _model_at(model, parent, kind)
    while get_origin(target) is Annotated:
        target = get_args(target)[0]
    target = _kind_models(target).get(kind or "", target)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return sorted(target.model_fields)
    return sorted(_known_keys(known))


def _belongs(key: str, homes: dict[str, type[BaseModel]]) -> str:
    """Where ``key`` is valid, when it was given in the wrong mapping."""
    found = [name for name, model in homes.items() if key in model.model_fields]
    if kinds_taking(key):  # before "an index", as the spec nests them
        found.insert(len([f for f in found if f != "an index"]), "a method")
    return f" here (it is a key of {' or '.join(found)})" if found else ""


def _echo(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _literal_message(error: Any, loc: tuple[int | str, ...]) -> str:
    value = error["input"]
    expected = str(error["ctx"]["expected"])
    choices = re.findall(r"'([^']*)'", expected)
    what = str(loc[-1]) if loc and isinstance(loc[-1], str) else "value"
    if what == "type" and isinstance(value, list):
        # ``type: [str]`` or a flow mapping YAML read as a list.
        return (
            f"got the YAML list {_echo(value)}; write a list type as a quoted "
            "string, e.g. type: 'list[str]'"
        )
    if isinstance(value, str) and (hint := did_you_mean(value, choices)):
        return f"unknown {what} {value!r}{hint}"
    return f"unknown {what} {_echo(value)}; expected {expected}"


def _pydantic_errors(
    exc: ValidationError, file: str, model: type[BaseModel], spec: Vocabulary
) -> list[SpecError]:
    """Every problem pydantic found, as SpecErrors with hints (one per path)."""
    raw = exc.errors(include_url=False)
    located: list[tuple[tuple[int | str, ...], Any]] = []
    for error in raw:
        # Drop pydantic's internal union/literal tags so the path stays a
        # path in the user's YAML.
        loc = tuple(
            part
            for part in error["loc"]
            if not (
                isinstance(part, str) and ("[" in part or part.startswith("function-"))
            )
        )
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "kind")  # the method's kind is unknown or missing
        loc, kind = _untag(model, loc)
        located.append((loc, {**error, "kind": kind}))
    missing = {loc for loc, error in located if error["type"] == "missing"}
    folded: set[tuple[int | str, ...]] = set()
    out: dict[tuple[int | str, ...], SpecError] = {}
    for loc, error in located:
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            keys = _keys_for(model, loc[:-1], error["kind"], spec.known)
            close = difflib.get_close_matches(key, keys, n=1)
            takers = kinds_taking(key)
            if error["kind"] and takers:
                # A key of other kinds: 'sum' on a lookup is not a typo.
                message = (
                    f"a {error['kind']} method does not take {key!r} (a key of "
                    f"{', '.join(takers)}); its keys: {', '.join(keys)}"
                )
            elif close:
                message = f"unknown key {key!r}; did you mean {close[0]!r}?"
                # 'acessor' for 'accessor': one problem, not an unknown key
                # and a missing one.
                folded.add((*loc[:-1], close[0]))
            else:
                home = _belongs(key, spec.homes)
                message = f"unknown key {key!r}{home}; see docs/schema.md"
        elif error["type"] == "union_tag_invalid":
            tag = error["ctx"]["tag"]
            hint = did_you_mean(tag, kind_names())
            expected = ", ".join(kind_names())
            message = (
                f"unknown kind {tag!r}{hint}"
                if hint
                else f"unknown kind {_echo(tag)}; expected one of {expected}"
            )
        elif error["type"] in ("missing", "union_tag_not_found"):
            message = "required key is missing"
        elif error["type"] == "literal_error":
            message = _literal_message(error, loc)
        elif "input" in error and not isinstance(error["input"], dict | list):
            message = f"{message}, got {_echo(error['input'])}"
        out.setdefault(loc, SpecError(file, _format_loc(loc), message))
    return [e for loc, e in out.items() if not (loc in missing and loc in folded)]


def validate(model: type[BaseModel], data: Any, file: str, spec: Vocabulary) -> Any:
    """``model`` validated from ``data``; every problem raised as SpecErrors."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise_all(_pydantic_errors(exc, file, model, spec))
        raise  # unreachable: pydantic reports at least one error
