"""Derived indexes: a range filter on the ordering's leading field, and names.

A ``since`` filter on a field the list ordering sorts descending must reuse
the ordering's index (same directions), not derive a second index with the
same name and flipped directions (which rendered two ``CREATE INDEX`` of one
name: PostgreSQL refused the DDL and the migration kept only one of them).
"""

from __future__ import annotations

import re
from pathlib import Path

from codegen.pipeline import render_schema

EVENTS_YAML = """\
entity: Event
accessor: events
table: events
repository:
  kinds: [append_only]
  key: [id]
  order: [-timestamp, id]
  time_field: timestamp
  filters:
    agent_id: {}
    since: {field: timestamp, op: ge}
    until: {field: timestamp, op: le}
  methods:
    oldest_first:
      kind: list
      by: [agent_id]
      order: [timestamp, id]
fields:
  id: {type: str}
  agent_id: {type: str}
  timestamp: {type: datetime}
"""


def _indexes(tmp_path: Path) -> list[str]:
    schema = tmp_path / "schema"
    schema.mkdir()
    (schema / "_enums.yaml").write_text("enums: {}\n", encoding="utf-8")
    (schema / "events.yaml").write_text(EVENTS_YAML, encoding="utf-8")
    files = render_schema(schema, tmp_path / "generated")
    ddl = files["ddl/postgres.sql"]
    return re.findall(r"^CREATE INDEX .*$", ddl, flags=re.MULTILINE)


def test_range_filter_reuses_the_ordering_index(tmp_path: Path) -> None:
    indexes = _indexes(tmp_path)
    time_only = [ix for ix in indexes if '("timestamp", "id' in ix]
    assert time_only == [
        'CREATE INDEX "ix_events_timestamp_id" ON "events" ("timestamp", "id" DESC);'
    ]


def test_same_columns_other_directions_get_distinct_names(tmp_path: Path) -> None:
    indexes = _indexes(tmp_path)
    names = [re.findall(r'INDEX "([^"]+)"', ix)[0] for ix in indexes]
    assert len(names) == len(set(names))
    by_agent = [ix for ix in indexes if '("agent_id", "timestamp", "id' in ix]
    assert len(by_agent) == 2  # (timestamp, id DESC) and (timestamp, id)
