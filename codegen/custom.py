"""Check that every ``custom`` method has its hand-written implementations.

A custom method is declared in YAML by its signature; its body is an
``async def name(repo, ...)`` in ``<runtime>/<dialect>/custom/<accessor>.py``
for a dialect-specific body, or once in ``<runtime>/custom/<accessor>.py``
for a body every dialect shares (it calls only the repository's own methods;
a dialect's own file wins where both define it). The modules are parsed
(never imported, so a stale ``generated/`` cannot break the check) and each
function's parameters, annotations, defaults and return annotation must
match the declaration. :func:`check_custom` returns which bodies are shared,
so the generated repositories import each from where it is.
"""

from __future__ import annotations

import ast
from pathlib import Path

from codegen.ir import DIALECTS, Dialect, EntityIR, MethodIR, SchemaIR
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


def _functions(path: Path) -> dict[str, ast.stmt]:
    """The top-level functions of a module, by name (none if it is absent)."""
    if not path.exists():
        return {}
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def _check(e: EntityIR, method: MethodIR, node: ast.stmt, shown: str) -> None:
    where = f"repository.methods.{method.name}"
    if not isinstance(node, ast.AsyncFunctionDef):
        message = f"{shown}: {method.name} must be `async def`"
        raise SpecError(e.file, where, message)
    expected = _expected(method)
    actual = _actual(node)
    if actual != expected:
        raise SpecError(
            e.file,
            where,
            f"{shown}: signature differs from the declaration\n"
            f"  declared:    {expected}\n  implemented: {actual}",
        )


def check_custom(
    schema: SchemaIR, runtime_dir: Path, shown_as: str
) -> dict[Dialect, frozenset[tuple[str, str]]]:
    """Raise :class:`SpecError` for a missing or mismatched implementation.

    ``shown_as`` is how messages name ``runtime_dir`` (a stable relative
    path). Returns, per dialect, the ``(entity module, method)`` pairs whose
    body is the shared one in ``<runtime>/custom/``.
    """
    shared: dict[Dialect, set[tuple[str, str]]] = {d: set() for d in DIALECTS}
    for e in schema.entities:
        if not e.custom_methods:
            continue
        neutral_shown = f"{shown_as}/custom/{e.module}.py"
        neutral = _functions(runtime_dir / "custom" / f"{e.module}.py")
        for dialect in DIALECTS:
            shown = f"{shown_as}/{dialect}/custom/{e.module}.py"
            own = _functions(runtime_dir / dialect / "custom" / f"{e.module}.py")
            for method in e.custom_methods:
                if method.name in own:
                    _check(e, method, own[method.name], shown)
                elif method.name in neutral:
                    _check(e, method, neutral[method.name], neutral_shown)
                    shared[dialect].add((e.module, method.name))
                else:
                    raise SpecError(
                        e.file,
                        f"repository.methods.{method.name}",
                        "custom method has no implementation: write "
                        f"`{_expected(method)}` in {neutral_shown} (every "
                        f"dialect) or {shown}",
                    )
    return {d: frozenset(pairs) for d, pairs in shared.items()}
