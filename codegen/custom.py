"""Check that every ``custom`` method has its hand-written implementations.

A custom method is declared in YAML by its signature; its body lives in
``<runtime>/<dialect>/custom/<accessor>.py`` as ``async def name(repo, ...)``
for each dialect. The modules are parsed (never imported, so a stale
``generated/`` cannot break the check) and each function's parameters,
annotations, defaults and return annotation must match the declaration.
"""

from __future__ import annotations

import ast
from pathlib import Path

from codegen.ir import DIALECTS, EntityIR, MethodIR, SchemaIR
from codegen.spec import SpecError


def _expected(method: MethodIR) -> str:
    params = ", ".join(["repo", *(p.signature for p in method.params)])
    return f"async def {method.name}({params}) -> {method.returns}"


def _actual(func: ast.AsyncFunctionDef) -> str:
    args = func.args
    defaults: list[ast.expr | None] = [None] * (len(args.args) - len(args.defaults))
    defaults += list(args.defaults)
    parts: list[str] = []
    for i, (arg, default) in enumerate(zip(args.args, defaults, strict=True)):
        text = arg.arg
        if i == 0:  # ``repo``: its annotation names the dialect's class
            parts.append(text)
            continue
        if arg.annotation is not None:
            text += f": {ast.unparse(arg.annotation)}"
        if default is not None:
            text += f" = {ast.unparse(default)}"
        parts.append(text)
    returns = ast.unparse(func.returns) if func.returns is not None else "None"
    return f"async def {func.name}({', '.join(parts)}) -> {returns}"


def _check(e: EntityIR, method: MethodIR, path: Path, shown: str) -> None:
    where = f"repository.methods.{method.name}"
    expected = _expected(method)
    if not path.exists():
        raise SpecError(
            e.file,
            where,
            f"custom method has no implementation: write `{expected}` in {shown}",
        )
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == method.name:
            message = f"{shown}: {method.name} must be `async def`"
            raise SpecError(e.file, where, message)
        if isinstance(node, ast.AsyncFunctionDef) and node.name == method.name:
            actual = _actual(node)
            if actual != expected:
                raise SpecError(
                    e.file,
                    where,
                    f"{shown}: signature differs from the declaration\n"
                    f"  declared:    {expected}\n  implemented: {actual}",
                )
            return
    raise SpecError(
        e.file,
        where,
        f"custom method has no implementation: write `{expected}` in {shown}",
    )


def check_custom(schema: SchemaIR, runtime_dir: Path, shown_as: str) -> None:
    """Raise :class:`SpecError` for a missing or mismatched implementation.

    ``shown_as`` is how messages name ``runtime_dir`` (a stable relative path).
    """
    for e in schema.entities:
        for method in e.custom_methods:
            for dialect in DIALECTS:
                path = runtime_dir / dialect / "custom" / f"{e.module}.py"
                shown = f"{shown_as}/{dialect}/custom/{e.module}.py"
                _check(e, method, path, shown)
