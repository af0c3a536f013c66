"""Per-call observability: a DEBUG log record and an OpenTelemetry span.

Off by default, and then free: the backend hands out the generated
repository objects themselves. It is switched on per backend, at
``connect()`` (or at once with :meth:`instrument` on a connected backend):

- **logs** when the ``synthorg.persistence.calls`` logger is enabled for
  DEBUG at ``connect()``, or explicitly with ``backend.instrument(logs=True)``;
- **spans** with ``backend.instrument(tracing=True)`` (needs the ``otel``
  extra: ``opentelemetry-api``), using the global tracer provider or the
  one passed as ``tracer_provider``.

Then every accessor's repository is wrapped in a thin proxy whose async
methods time the call and record it: one log record
``tasks.save 0.213 ms rows=0`` (with ``db_call``, ``duration_ms`` and
``rows`` as record attributes) and one CLIENT span named
``save tasks`` with the database semantic-convention attributes
``db.system.name``, ``db.operation.name``, ``db.collection.name`` and
``db.namespace``; a failing call gets status ERROR, an exception event and
``error.type``. ``rows`` counts what the call returned: the length of a
tuple, 1 or 0 for a single row (or a bool), the number for an int.

See docs/observability.md for the measured cost.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from synthorg.persistence.generated.repositories import Repositories

CALLS_LOGGER: Final = "synthorg.persistence.calls"
"""The logger of the per-call DEBUG records (stable name)."""

TRACER_NAME: Final = "synthorg.persistence"
"""The instrumentation scope of the spans."""

DB_SYSTEMS: Final = {"sqlite": "sqlite", "postgres": "postgresql"}
"""``db.system.name`` of each backend kind (semantic-convention values)."""

_log = logging.getLogger(CALLS_LOGGER)
_perf = time.perf_counter


@dataclasses.dataclass(frozen=True)
class Instrumentation:
    """What a backend records per repository call (see the module docstring)."""

    logs: bool
    tracer: Any  # an opentelemetry.trace.Tracer, or None
    system: str  # db.system.name
    namespace: str  # db.namespace

    @property
    def enabled(self) -> bool:
        return self.logs or self.tracer is not None


def get_tracer(tracer_provider: Any = None) -> Any:
    """A tracer of the ``synthorg.persistence`` scope (needs the ``otel`` extra)."""
    try:
        from opentelemetry import trace
    except ImportError as exc:  # pragma: no cover - the extra is installed in dev
        raise ImportError(
            "tracing needs opentelemetry-api: pip install 'synthorg-persistence[otel]'"
        ) from exc
    return trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)


def returned_rows(result: object) -> int:
    """How many rows a repository call returned (see the module docstring)."""
    if result is None:
        return 0
    if isinstance(result, bool):
        return int(result)
    if isinstance(result, int):
        return result
    if isinstance(result, tuple | list):
        return len(result)
    return 1


def _tables() -> dict[str, str]:
    from synthorg.persistence.generated.manifest import ENTITIES

    return {info.accessor: info.table for info in ENTITIES}


def _wrap(
    method: Callable[..., Awaitable[Any]],
    accessor: str,
    name: str,
    table: str,
    inst: Instrumentation,
) -> Callable[..., Awaitable[Any]]:
    call = f"{accessor}.{name}"
    tracer = inst.tracer
    logs = inst.logs
    attributes = {
        "db.system.name": inst.system,
        "db.operation.name": name,
        "db.collection.name": table,
        "db.namespace": inst.namespace,
    }
    span_name = f"{name} {table}"
    if tracer is not None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

    @wraps(method)
    async def instrumented(*args: Any, **kwargs: Any) -> Any:
        start = _perf()
        span = None
        if tracer is not None:
            span = tracer.start_span(
                span_name, kind=SpanKind.CLIENT, attributes=attributes
            )
        try:
            result = await method(*args, **kwargs)
        except BaseException as exc:
            elapsed = (_perf() - start) * 1000.0
            if span is not None:
                error = type(exc).__qualname__
                span.set_attribute("error.type", error)
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, error))
                span.end()
            if logs and _log.isEnabledFor(logging.DEBUG):
                _log.debug(
                    "%s %.3f ms failed: %s",
                    call,
                    elapsed,
                    type(exc).__name__,
                    extra={
                        "db_call": call,
                        "duration_ms": elapsed,
                        "rows": 0,
                        "error": type(exc).__name__,
                    },
                )
            raise
        elapsed = (_perf() - start) * 1000.0
        rows = returned_rows(result)
        if span is not None:
            span.set_attribute("db.response.returned_rows", rows)
            span.end()
        if logs and _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "%s %.3f ms rows=%d",
                call,
                elapsed,
                rows,
                extra={"db_call": call, "duration_ms": elapsed, "rows": rows},
            )
        return result

    return instrumented


class InstrumentedRepository:
    """A repository whose public async methods are timed and recorded.

    Every other attribute is the wrapped repository's; ``__wrapped__`` is
    the repository itself.
    """

    def __init__(
        self, inner: object, accessor: str, table: str, inst: Instrumentation
    ) -> None:
        self.__wrapped__ = inner
        for name, attr in inspect.getmembers(type(inner)):
            if not name.startswith("_") and inspect.iscoroutinefunction(attr):
                setattr(
                    self,
                    name,
                    _wrap(getattr(inner, name), accessor, name, table, inst),
                )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__wrapped__, name)

    def __repr__(self) -> str:
        return f"<instrumented {self.__wrapped__!r}>"


def unwrap(repos: Repositories) -> Repositories:
    """The generated repositories behind ``repos`` (itself when not wrapped)."""
    plain = {
        f.name: getattr(getattr(repos, f.name), "__wrapped__", getattr(repos, f.name))
        for f in dataclasses.fields(repos)
    }
    if all(plain[name] is getattr(repos, name) for name in plain):
        return repos
    return type(repos)(**plain)


def instrument_repositories(repos: Repositories, inst: Instrumentation) -> Repositories:
    """``repos`` with every repository wrapped; ``repos`` itself when disabled."""
    repos = unwrap(repos)
    if not inst.enabled:
        return repos
    tables = _tables()
    wrapped = {
        f.name: InstrumentedRepository(
            getattr(repos, f.name), f.name, tables.get(f.name, f.name), inst
        )
        for f in dataclasses.fields(repos)
    }
    return type(repos)(**wrapped)


def debug_logging_enabled() -> bool:
    """Whether the calls logger records DEBUG (checked at ``connect()``)."""
    return _log.isEnabledFor(logging.DEBUG)
