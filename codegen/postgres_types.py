"""PostgreSQL column types and value codecs, one decision per field kind.

Native types throughout: TIMESTAMPTZ, JSONB, BOOLEAN, BIGINT, DOUBLE
PRECISION, BYTEA; enums are TEXT guarded by an ``IN`` list so adding a value
is a constraint change rather than an ``ALTER TYPE``.
"""

from __future__ import annotations

# Text sorts byte-wise ("C" collation), exactly as SQLite's BINARY does, so a
# list ordered by a text column pages identically on both backends and does
# not depend on the server's locale.
COLUMN_TYPES = {
    "str": 'TEXT COLLATE "C"',
    "text": 'TEXT COLLATE "C"',
    "enum": 'TEXT COLLATE "C"',
    "int": "BIGINT",
    "bool": "BOOLEAN",
    "float": "DOUBLE PRECISION",
    "datetime": "TIMESTAMPTZ",
    "bytes": "BYTEA",
    "json": "JSONB",
    "list[str]": "JSONB",
    "list[int]": "JSONB",
    "list[json]": "JSONB",
}

ENCODERS = {
    "enum": "{v}.value",
    # SQLite REAL and jsonb keep no negative zero: 0.0 on both backends.
    "float": "{v} + 0.0",
    # COPY refuses offsets beyond +-15:59 that Python allows: bind UTC.
    "datetime": "{v}.astimezone(UTC)",
    # The text json_text checked (naming field {f}) goes out as is (dumps=str).
    "json": "Jsonb(json_text({v}, {f}), str)",
    "list[str]": "Jsonb(json_text({v}, {f}), str)",
    "list[int]": "Jsonb(json_text({v}, {f}), str)",
    "list[json]": "Jsonb(json_text({v}, {f}), str)",
}

# psycopg already returns Python objects for JSONB, TIMESTAMPTZ and BOOLEAN.
DECODERS: dict[str, str] = {}


def column_type(kind: str) -> str:
    """The PostgreSQL column type of a field kind."""
    return COLUMN_TYPES[kind]


def kind_check(kind: str, column: str) -> str | None:
    """A CHECK expression the kind needs beyond its declared constraints."""
    if kind == "json":
        return f"jsonb_typeof({column}) = 'object'"
    if kind in ("list[str]", "list[int]", "list[json]"):
        return f"jsonb_typeof({column}) = 'array'"
    return None
