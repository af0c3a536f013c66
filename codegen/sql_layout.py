"""The layout of generated SQL: one statement, one clause per line.

Generated repositories show each statement above the method that runs it,
laid out as a person would write it (``SELECT`` columns / ``FROM`` /
``WHERE`` / ``ORDER BY`` / ``LIMIT``; ``INSERT INTO`` / ``VALUES`` /
``ON CONFLICT`` / ``DO UPDATE SET`` with one assignment per line). This is
not a SQL formatter: it knows the handful of clause keywords the generator
emits, splits only at parenthesis depth 0, and never touches the inside of a
string literal or a quoted identifier. Only whitespace changes, so the
statement is the same statement (:func:`same_statement` says so).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codegen.ir import Dialect, EntityIR, MethodIR, SqlConst

WIDTH = 88
"""Lines are packed to this width (the repository's line length)."""

# Clause keywords, longest first so ``DO UPDATE SET`` wins over ``UPDATE``.
_CLAUSES = (
    ("DO", "UPDATE", "SET"),
    ("INSERT", "INTO"),
    ("DELETE", "FROM"),
    ("ON", "CONFLICT"),
    ("ON", "COMMIT"),
    ("COPY",),
    ("ORDER", "BY"),
    ("GROUP", "BY"),
    ("SELECT",),
    ("FROM",),
    ("WHERE",),
    ("LIMIT",),
    ("VALUES",),
    ("RETURNING",),
    ("UPDATE",),
    ("SET",),
)
# Clauses whose items go one per line (``a = b`` assignments).
_ONE_PER_LINE = {"SET", "DO UPDATE SET"}
# Clauses whose comma-separated items are packed to the width.
_PACKED = {"SELECT", "RETURNING"}

_TOKEN = re.compile(
    r"""'(?:[^']|'')*'      # string literal
      | "(?:[^"]|"")*"      # quoted identifier
      | [A-Za-z_][A-Za-z0-9_]*
      | \s+
      | [^'"]               # anything else but an unmatched quote""",
    re.VERBOSE,
)


def _tokens(sql: str) -> list[str]:
    tokens = _TOKEN.findall(sql)
    if "".join(tokens) != sql:  # an unterminated quote: refuse to guess
        raise ValueError(f"cannot lay out SQL: {sql!r}")
    return tokens


def _clause_at(tokens: list[str], depth: int, i: int) -> tuple[str, ...] | None:
    """The clause keyword starting at token ``i``, if one does (depth 0 only)."""
    if depth != 0:
        return None
    for clause in _CLAUSES:
        words = tokens[i : i + 2 * len(clause) - 1]
        if words[0::2] == list(clause) and all(w == " " for w in words[1::2]):
            return clause
    return None


def _clauses(sql: str) -> list[tuple[str, str]]:
    """``(keyword, body)`` pairs, split where a clause keyword starts."""
    tokens = [" " if t.isspace() else t for t in _tokens(sql)]
    out: list[tuple[str, list[str]]] = [("", [])]
    depth = 0
    i = 0
    while i < len(tokens):
        clause = _clause_at(tokens, depth, i)
        if clause is not None:
            out.append((" ".join(clause), []))
            i += 2 * len(clause) - 1
            continue
        depth += {"(": 1, ")": -1}.get(tokens[i], 0)
        out[-1][1].append(tokens[i])
        i += 1
    bodies = [(head, "".join(body).strip()) for head, body in out]
    return [(head, body) for head, body in bodies if head or body]


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at depth-0 occurrences of the token ``sep``."""
    parts: list[list[str]] = [[]]
    depth = 0
    for tok in _tokens(text):
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
        if depth == 0 and tok == sep:
            parts.append([])
            continue
        parts[-1].append(tok)
    return ["".join(p).strip() for p in parts]


def _wrap(items: list[str], indent: str, width: int) -> list[str]:
    """``items`` comma-separated, packed into lines indented by 4."""
    lines: list[str] = []
    line = ""
    inner = len(indent) + 4
    for n, item in enumerate(items):
        piece = item + ("," if n + 1 < len(items) else "")
        if line and inner + len(line) + 1 + len(piece) > width:
            lines.append("    " + line)
            line = piece
        else:
            line = f"{line} {piece}" if line else piece
    return [*lines, "    " + line]


def _pack(head: str, items: list[str], indent: str, width: int) -> list[str]:
    """``head`` and its items on one line, or the items wrapped below it."""
    one = f"{head} {', '.join(items)}"
    if len(indent) + len(one) <= width:
        return [one]
    return [head, *_wrap(items, indent, width)]


def _parenthesised(head: str, body: str, indent: str, width: int) -> list[str]:
    """``head name (a, b, ...)`` wrapped inside the parentheses when long."""
    one = f"{head} {body}"
    if len(indent) + len(one) <= width or not body.endswith(")"):
        return [one]
    start = body.index("(")
    lead = f"{head} {body[:start]}".rstrip()
    items = _split_top(body[start + 1 : -1], ",")
    return [f"{lead} (", *_wrap(items, indent, width), ")"]


def _clause_lines(head: str, body: str, indent: str, width: int) -> list[str]:
    if head in _ONE_PER_LINE:
        items = _split_top(body, ",")
        if len(items) == 1:
            return [f"{head} {body}"]
        return [head] + [
            f"    {item}{',' if n + 1 < len(items) else ''}"
            for n, item in enumerate(items)
        ]
    if head in _PACKED:
        return _pack(head, _split_top(body, ","), indent, width)
    if head in ("INSERT INTO", "VALUES", "COPY"):
        return _parenthesised(head, body, indent, width)
    if head == "WHERE" and len(indent) + len(head) + 1 + len(body) > width:
        conds = _split_top(body, "AND")
        return [f"WHERE {conds[0]}"] + [f"    AND {c}" for c in conds[1:]]
    return [f"{head} {body}".strip()]


def layout(sql: str, indent: str = "", width: int = WIDTH) -> list[str]:
    """The lines of ``sql``, one clause each (continuations indented by 4)."""
    lines: list[str] = []
    for head, body in _clauses(sql):
        lines += _clause_lines(head, body, indent, width)
    return lines


def _strip_space(sql: str) -> str:
    return "".join(t for t in _tokens(sql) if not t.isspace())


def same_statement(a: str, b: str) -> bool:
    """``a`` and ``b`` differ at most in whitespace outside quotes."""
    return _strip_space(a) == _strip_space(b)


def sql_block(sql: str, indent: int) -> str:
    """``sql`` as a triple-quoted Python literal whose lines sit at ``indent``.

    The literal opens and closes on lines of its own; the statement's text
    gains the line breaks and indentation, nothing else. Text a triple-quoted
    literal could not hold verbatim (a backslash, three double quotes) is
    emitted as an ordinary literal instead.
    """
    if "\\" in sql or '"""' in sql:
        return repr(sql)
    pad = " " * indent
    lines = layout(sql, pad)
    text = "".join(f"\n{pad}{line}" for line in lines)
    if not same_statement(text, sql):  # pragma: no cover - a layout bug
        raise ValueError(f"layout changed the statement: {sql!r}")
    return f'"""{text}\n{pad[:-4]}"""'


# Statements a batch write runs besides its own (COPY staging, the look-up of
# keys that already existed): shown above the batch method.
_BATCH_ONLY = (
    "_STORED",
    "_COPY",
    "_STAGE",
    "_STAGE_COPY",
    "_STAGE_MERGE",
    "_EXISTING",
)


def placement(e: EntityIR, dialect: Dialect) -> dict[str, tuple[SqlConst, ...]]:
    """The SQL constants to show above each method, by method name.

    A constant sits above the first method that runs it; one no method
    names (a batch write's helpers) sits above the batch method, else above
    the first method, so every constant is shown exactly once.
    """
    consts = {c.name: c for c in e.sql_consts[dialect]}
    done: set[str] = set()
    placed: dict[str, tuple[SqlConst, ...]] = {}
    for m in e.methods:
        names = [*m.consts, *(_BATCH_ONLY if m.shape == "batch" else ())]
        group = tuple(consts[n] for n in names if n in consts and n not in done)
        done.update(c.name for c in group)
        placed[m.name] = group
    rest = tuple(c for c in consts.values() if c.name not in done)
    if rest and e.methods:
        first = e.methods[0].name
        placed[first] = rest + placed[first]
    return placed


def header(e: EntityIR, m: MethodIR) -> str:
    """``# accessor.method (kind): what it does``, from the method's doc."""
    summary = " ".join(m.doc.split("\n\n")[0].split())
    for stop in ("; ", ". ", ": "):
        summary = summary.split(stop)[0]
    summary = summary.rstrip(".")
    summary = summary[:1].lower() + summary[1:]
    head = f"# {e.accessor}.{m.name} ({m.kind}): "
    room = WIDTH - 4 - len(head)  # one line at class-body indentation
    if len(summary) > room and " (" in summary:  # drop an aside first
        summary = summary.split(" (")[0]
    while len(summary) > room and ", " in summary:  # then trailing clauses
        summary = summary.rsplit(", ", 1)[0]
    if len(summary) > room:
        summary = summary[: room - 3].rsplit(" ", 1)[0] + "..."
    return head + summary
