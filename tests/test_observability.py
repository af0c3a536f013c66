"""Per-call observability: DEBUG records, OpenTelemetry spans, and "off is free".

On both backends: with instrumentation off the accessors hand out the
generated repository objects themselves; with the calls logger at DEBUG at
connect() every call leaves one record (accessor.method, duration, rows);
with tracing on every call is one CLIENT span with the database
semantic-convention attributes, and a failing call an ERROR span.
"""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from synthorg.persistence import (
    DuplicateRecordError,
    PersistenceBackend,
    PersistenceConfig,
    create_backend,
)
from synthorg.persistence.generated.manifest import ENTITIES, VERSIONS
from synthorg.persistence.generated.projects import Project
from synthorg.persistence.observability import (
    CALLS_LOGGER,
    InstrumentedRepository,
    returned_rows,
)

SYSTEM = {"sqlite": "sqlite", "postgres": "postgresql"}


def _namespace(backend: PersistenceBackend, kind: str) -> str:
    config = backend.config  # type: ignore[attr-defined]
    return str(config.database if kind == "postgres" else config.path)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


async def _calls(backend: PersistenceBackend) -> None:
    await backend.projects.save(Project(id="p1", name="One"))
    await backend.projects.save(Project(id="p2", name="Two"))
    assert await backend.projects.get("p1") is not None
    assert await backend.projects.get("nope") is None
    assert len(await backend.projects.list_items()) == 2


def test_returned_rows() -> None:
    assert returned_rows(None) == 0
    assert returned_rows(True) == 1 and returned_rows(False) == 0
    assert returned_rows(7) == 7
    assert returned_rows((1, 2, 3)) == 3
    assert returned_rows(object()) == 1


async def test_off_hands_out_the_generated_repositories(
    backend: PersistenceBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="synthorg.persistence.other")
    repo = backend.projects
    assert (
        type(repo).__module__
        == f"synthorg.persistence.generated.{backend.kind}.projects"
    )
    assert not isinstance(repo, InstrumentedRepository)
    await _calls(backend)
    assert not [r for r in caplog.records if r.name == CALLS_LOGGER]
    # Switched on and off again: the same generated objects come back.
    backend.instrument(logs=True)
    assert isinstance(backend.projects, InstrumentedRepository)
    backend.instrument(logs=False)
    assert backend.projects is repo


async def test_debug_at_connect_logs_every_call(
    backend_config: PersistenceConfig,
    backend_kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=CALLS_LOGGER)
    backend = create_backend(backend_config)
    await backend.connect()
    try:
        await backend.migrate()
        assert isinstance(backend.projects, InstrumentedRepository)
        caplog.clear()
        await _calls(backend)
    finally:
        await backend.disconnect()
    records = [r for r in caplog.records if r.name == CALLS_LOGGER]
    calls = [(r.__dict__["db_call"], r.__dict__["rows"]) for r in records]
    assert calls == [
        ("projects.save", 0),
        ("projects.save", 0),
        ("projects.get", 1),
        ("projects.get", 0),
        ("projects.list_items", 2),
    ]
    for r in records:
        assert r.levelno == logging.DEBUG
        assert r.__dict__["duration_ms"] >= 0
        assert r.getMessage().startswith(r.__dict__["db_call"] + " ")
    assert records[-1].getMessage().endswith(" rows=2")


async def test_a_failing_call_is_logged_with_its_error(
    backend: PersistenceBackend, caplog: pytest.LogCaptureFixture
) -> None:
    backend.instrument(logs=True)
    caplog.set_level(logging.DEBUG, logger=CALLS_LOGGER)
    await backend.projects.create(Project(id="p1", name="One"))
    with pytest.raises(DuplicateRecordError):
        await backend.projects.create(Project(id="p1", name="Again"))
    last = [r for r in caplog.records if r.name == CALLS_LOGGER][-1]
    assert last.__dict__["db_call"] == "projects.create"
    assert last.__dict__["error"] == "DuplicateRecordError"


async def test_spans_per_call_with_semconv_attributes(
    backend: PersistenceBackend,
    backend_kind: str,
    exporter: InMemorySpanExporter,
    provider: TracerProvider,
) -> None:
    backend.instrument(logs=False, tracing=True, tracer_provider=provider)
    await _calls(backend)
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == [
        "save projects",
        "save projects",
        "get projects",
        "get projects",
        "list_items projects",
    ]
    for span in spans:
        assert span.kind is SpanKind.CLIENT
        assert span.status.status_code is StatusCode.UNSET
        attrs = dict(span.attributes or {})
        assert attrs["db.system.name"] == SYSTEM[backend_kind]
        assert attrs["db.collection.name"] == "projects"
        assert attrs["db.namespace"] == _namespace(backend, backend_kind)
        assert attrs["db.operation.name"] == span.name.split()[0]
        scope = span.instrumentation_scope
        assert scope is not None and scope.name == "synthorg.persistence"
    assert [dict(s.attributes or {})["db.response.returned_rows"] for s in spans] == [
        0,
        0,
        1,
        0,
        2,
    ]


async def test_a_failing_call_is_an_error_span(
    backend: PersistenceBackend,
    exporter: InMemorySpanExporter,
    provider: TracerProvider,
) -> None:
    backend.instrument(logs=False, tracing=True, tracer_provider=provider)
    await backend.projects.create(Project(id="p1", name="One"))
    with pytest.raises(DuplicateRecordError):
        await backend.projects.create(Project(id="p1", name="Again"))
    ok, failed = exporter.get_finished_spans()
    assert ok.status.status_code is StatusCode.UNSET
    assert failed.name == "create projects"
    assert failed.status.status_code is StatusCode.ERROR
    assert dict(failed.attributes or {})["error.type"] == "DuplicateRecordError"
    (event,) = failed.events
    assert event.name == "exception"
    assert str(dict(event.attributes or {})["exception.type"]).endswith(
        "DuplicateRecordError"
    )


async def test_no_span_when_off(
    backend: PersistenceBackend,
    exporter: InMemorySpanExporter,
    provider: TracerProvider,
) -> None:
    backend.instrument(logs=False, tracing=True, tracer_provider=provider)
    backend.instrument(logs=False, tracing=False)
    await _calls(backend)
    assert exporter.get_finished_spans() == ()


async def test_instrumentation_survives_reconnect(
    backend: PersistenceBackend,
    exporter: InMemorySpanExporter,
    provider: TracerProvider,
) -> None:
    backend.instrument(logs=False, tracing=True, tracer_provider=provider)
    await backend.disconnect()
    await backend.connect()
    assert isinstance(backend.projects, InstrumentedRepository)
    # Non-method attributes pass through to the generated repository.
    assert repr(backend.projects).startswith("<instrumented ")
    await backend.projects.save(Project(id="p1", name="One"))
    assert [s.name for s in exporter.get_finished_spans()] == ["save projects"]


async def test_every_accessor_is_instrumented_with_its_table(
    backend: PersistenceBackend,
    exporter: InMemorySpanExporter,
    provider: TracerProvider,
) -> None:
    backend.instrument(logs=False, tracing=True, tracer_provider=provider)
    expected: list[str] = []
    for info in ENTITIES:
        repo = getattr(backend, info.accessor)
        assert isinstance(repo, InstrumentedRepository)
        if "append_only" in info.kinds:
            assert info.filter_spec is not None
            await repo.query(info.filter_spec(), limit=1)
            expected.append(f"query {info.table}")
        else:
            await repo.list_items(limit=1)
            expected.append(f"list_items {info.table}")
    for accessor, _ in VERSIONS:
        await getattr(backend, accessor).count_versions("nobody")
        expected.append(f"count_versions {accessor}")
    assert [s.name for s in exporter.get_finished_spans()] == expected
