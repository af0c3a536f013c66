"""The ``timeseries`` entity key: validated by the spec, carried to the manifest.

``timeseries: <column>`` marks an append-only entity as a time series; the
PostgreSQL backend turns the marked tables into TimescaleDB hypertables
(``enable_timescaledb``). The key is refused on any other entity, and on a
column that is not a required datetime.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from codegen.build import build
from codegen.ir import SchemaIR
from codegen.spec import SpecError, load_schema

LOG = """\
entity: Event
accessor: events
table: events
{timeseries}
repository:
  kinds: [{kind}]
  key: [id]
  order: [-at, id]
  time_field: at
  filters:
    since: {{field: at, op: ge}}
fields:
  id: {{type: str}}
  at: {{type: datetime, default: now}}
  maybe: {{type: datetime, optional: true}}
  label: {{type: str}}
"""


def _build(tmp_path: Path, timeseries: str, kind: str = "append_only") -> SchemaIR:
    schema = tmp_path / "schema"
    schema.mkdir()
    line = f"timeseries: {timeseries}" if timeseries else ""
    text = LOG.format(timeseries=line, kind=kind)
    if kind != "append_only":
        text = text.replace("  time_field: at\n", "")
    (schema / "events.yaml").write_text(text, encoding="utf-8")
    return build(load_schema(schema))


def test_timeseries_reaches_the_ir(tmp_path: Path) -> None:
    ir = _build(tmp_path, "at")
    assert [e.timeseries for e in ir.entities] == ["at"]


def test_no_timeseries_by_default(tmp_path: Path) -> None:
    ir = _build(tmp_path, "")
    assert [e.timeseries for e in ir.entities] == [None]


@pytest.mark.parametrize(
    ("column", "kind", "problem"),
    [
        ("at", "id_keyed", "only an append_only repository is a time series"),
        ("nowhere", "append_only", "unknown field 'nowhere'"),
        ("label", "append_only", "'label' must be a required datetime field"),
        ("maybe", "append_only", "'maybe' must be a required datetime field"),
    ],
)
def test_timeseries_refused(
    tmp_path: Path, column: str, kind: str, problem: str
) -> None:
    with pytest.raises(SpecError) as caught:
        _build(tmp_path, column, kind)
    assert "timeseries" in str(caught.value)
    assert problem in str(caught.value)


def test_the_manifest_lists_the_schema_time_series() -> None:
    from synthorg.persistence.config import PostgresConfig
    from synthorg.persistence.generated.manifest import ENTITIES, TIMESERIES

    assert TIMESERIES == {"audit_entries": "timestamp", "cost_records": "timestamp"}
    append_only = {e.table for e in ENTITIES if "append_only" in e.kinds}
    assert set(TIMESERIES) <= append_only
    # Each time series has its chunk interval setting (read by name).
    for table in TIMESERIES:
        assert f"{table}_chunk_interval" in PostgresConfig.model_fields
