"""SQLite column types and value codecs, one decision per field kind.

Timestamps are fixed-width ISO-8601 UTC text so that text order is time
order; JSON is TEXT guarded by ``json_valid``; booleans are 0/1 integers;
enums are TEXT guarded by an ``IN`` list.
"""

from __future__ import annotations

COLUMN_TYPES = {
    "str": "TEXT",
    "text": "TEXT",
    "enum": "TEXT",
    "int": "INTEGER",
    "bool": "INTEGER",
    "float": "REAL",
    "datetime": "TEXT",
    "bytes": "BLOB",
    "json": "TEXT",
    "list[str]": "TEXT",
    "list[int]": "TEXT",
    "list[json]": "TEXT",
}

# Python expression templates: ``{v}`` is the value being written.
ENCODERS = {
    "enum": "{v}.value",
    # REAL keeps no negative zero; normalising on write keeps the backends equal.
    "float": "{v} + 0.0",
    "datetime": "dt_to_text({v})",
    # json_text refuses what jsonb could not store exactly, naming field {f}.
    "json": "json_text({v}, {f})",
    "list[str]": "json_text({v}, {f})",
    "list[int]": "json_text({v}, {f})",
    "list[json]": "json_text({v}, {f})",
}

# Python expression templates: ``{v}`` is the column value read back.
DECODERS = {
    "json": "json_loads({v})",
    "list[str]": "json_loads({v})",
    "list[int]": "json_loads({v})",
    "list[json]": "json_loads({v})",
}


def column_type(kind: str) -> str:
    """The SQLite storage type of a field kind."""
    return COLUMN_TYPES[kind]


def kind_check(kind: str, column: str) -> str | None:
    """A CHECK expression the kind needs beyond its declared constraints."""
    if kind == "bool":
        return f"{column} IN (0, 1)"
    if kind in ("json", "list[str]", "list[int]", "list[json]"):
        shape = "object" if kind == "json" else "array"
        return f"json_valid({column}) AND json_type({column}) = '{shape}'"
    if kind == "datetime":
        # Fixed width keeps lexical order equal to time order.
        return f"length({column}) = 32"
    return None
