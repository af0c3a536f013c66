"""The dialect registry: every SQL dialect the generator emits, by name.

Iterating :data:`DIALECTS` yields the names in generation order (SQLite
first, as the files and the documentation list them). Adding a dialect is
one module here and one line below.
"""

from __future__ import annotations

from codegen.dialects.base import Dialect, FillError, quote, sql_literal, support
from codegen.dialects.postgres import Postgres
from codegen.dialects.sqlite import SQLite

DIALECTS: dict[str, Dialect] = {d.name: d for d in (SQLite(), Postgres())}

__all__ = ["DIALECTS", "Dialect", "FillError", "quote", "sql_literal", "support"]
