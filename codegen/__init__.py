"""The generator: ``schema/*.yaml`` -> spec -> IR -> ``{path: text}`` -> ``generated/``.

The stages, in order, are the functions of :mod:`codegen.pipeline` (load,
build, custom-body check, migration plan, render, format, write/check);
each lives in its own module and never imports a later stage:
:mod:`codegen.spec` (load + validate), :mod:`codegen.build` into
:mod:`codegen.ir` (typed, frozen, every decision made),
:mod:`codegen.custom`, :mod:`codegen.migrations`, :mod:`codegen.render`
(Jinja templates, pure functions), :mod:`codegen.formatting` (ruff),
:mod:`codegen.output` (write or check). :mod:`codegen.cli` is the command
line. The method kinds (:mod:`codegen.kinds`, one module each) span the
spec and build stages: a kind's spec model and its IR builder live
together; :mod:`codegen.dialects` holds one object per SQL dialect. A
development-time tool: the runtime library does not depend on it.
"""
