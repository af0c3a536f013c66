"""The generator: ``schema/*.yaml`` -> spec -> IR -> ``{path: text}`` -> ``generated/``.

Stages live in their own modules and never import a later stage:
:mod:`codegen.spec` (load + validate), :mod:`codegen.ir` (typed, frozen,
every decision made), :mod:`codegen.render` (Jinja templates, pure
function), :mod:`codegen.cli` (write or check). The method kinds
(:mod:`codegen.kinds`, one module each) span the first two: a kind's spec
model and its IR builder live together. A development-time tool:
the runtime library does not depend on it.
"""
