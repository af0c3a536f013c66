"""``custom``: a hand-written method, declared by its ``signature``.

The bodies live in ``src/synthorg/persistence/<dialect>/custom/``; the
generated method only delegates (the ``custom`` shape).
"""

from __future__ import annotations

import ast
from typing import Annotated, Literal

from pydantic import Field

from codegen.ir import MethodIR, ParamIR
from codegen.methods import Context
from codegen.shapes import Shape
from codegen.spec_types import MethodBase, SpecError

SHAPE: Shape = "custom"

ImportName = Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")]


class CustomMethod(MethodBase):
    """``signature``: ``(self, ...) -> type``; ``imports``: names it uses."""

    kind: Literal["custom"]
    signature: str | None = None
    imports: list[ImportName] = Field(default_factory=list)


Spec = CustomMethod


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    if spec.signature is None:
        raise SpecError(
            ctx.file,
            f"{path}.signature",
            "a custom method declares its signature, e.g. "
            "'(self, items: Sequence[SettingRow]) -> bool'",
        )
    try:
        tree = ast.parse(f"async def {name}{spec.signature}: ...")
    except SyntaxError as exc:
        raise SpecError(
            ctx.file, f"{path}.signature", f"not a valid signature: {exc.msg}"
        ) from None
    func = tree.body[0]
    assert isinstance(func, ast.AsyncFunctionDef)
    args = func.args
    if args.vararg or args.kwarg or args.posonlyargs or args.kwonlyargs:
        raise SpecError(
            ctx.file,
            f"{path}.signature",
            "use plain parameters after 'self' (no *args, **kwargs, / or *)",
        )
    if not args.args or args.args[0].arg != "self":
        raise SpecError(ctx.file, f"{path}.signature", "the first parameter is 'self'")
    positional = args.args[1:]
    if func.returns is None or any(a.annotation is None for a in positional):
        raise SpecError(
            ctx.file,
            f"{path}.signature",
            "annotate every parameter and the return type",
        )
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    params = [
        ParamIR(
            name=a.arg,
            annotation=ast.unparse(a.annotation) if a.annotation else "",
            default=ast.unparse(d) if d is not None else None,
        )
        for a, d in zip(positional, defaults, strict=True)
    ]
    return MethodIR(
        name,
        spec.kind,
        doc,
        tuple(params),
        ast.unparse(func.returns),
        declared=True,
        shape=SHAPE,
        extra=tuple(spec.imports),
    )
