"""Tests for the persistence configuration models."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from synthorg.persistence.config import (
    PersistenceConfig,
    PostgresConfig,
    SQLiteConfig,
)

PASSWORD = "s3cr3t-hunter2"  # a test fixture, not a real secret


def pg(**overrides: Any) -> PostgresConfig:
    """Build a valid PostgresConfig with ``overrides`` applied."""
    fields: dict[str, Any] = {
        "database": "synthorg",
        "username": "app",
        "password": PASSWORD,
    }
    fields.update(overrides)
    return PostgresConfig(**fields)


# --- SQLiteConfig -----------------------------------------------------------


def test_sqlite_defaults() -> None:
    config = SQLiteConfig()
    assert config.path == "synthorg.db"
    assert config.wal_mode is True
    assert config.journal_size_limit == 64 * 1024 * 1024


@pytest.mark.parametrize(
    "path",
    [
        ":memory:",
        "file::memory:?cache=shared",
        "file:memdb1?mode=memory&cache=shared",
        "data/company-a.db",
        "/var/lib/synthorg/company.db",
        "C:\\data\\company.db",
        "...db",
        "dir/..hidden/x.db",
    ],
)
def test_sqlite_path_accepted(path: str) -> None:
    assert SQLiteConfig(path=path).path == path


@pytest.mark.parametrize(
    "path",
    [
        "..",
        "../x.db",
        "a/../b",
        "/abs/../etc/passwd",
        "..\\x",
        "a\\..\\b",
        "file:../x.db",
        "file:%2e%2e/x.db",
        "ok.db\x00../x",
    ],
)
def test_sqlite_traversal_refused(path: str) -> None:
    with pytest.raises(ValidationError):
        SQLiteConfig(path=path)


@pytest.mark.parametrize("path", ["", "   "])
def test_sqlite_blank_path_refused(path: str) -> None:
    with pytest.raises(ValidationError):
        SQLiteConfig(path=path)


def test_sqlite_journal_size_limit_non_negative() -> None:
    assert SQLiteConfig(journal_size_limit=0).journal_size_limit == 0
    with pytest.raises(ValidationError):
        SQLiteConfig(journal_size_limit=-1)


def test_sqlite_frozen_and_extra_forbidden() -> None:
    config = SQLiteConfig()
    with pytest.raises(ValidationError):
        setattr(config, "path", "other.db")  # noqa: B010 - bypass static checks
    with pytest.raises(ValidationError):
        SQLiteConfig.model_validate({"pth": "typo.db"})


# --- PostgresConfig ---------------------------------------------------------


def test_postgres_defaults() -> None:
    config = pg()
    assert config.host == "localhost"
    assert config.port == 5432
    assert config.ssl_mode == "prefer"
    assert (config.pool_min_size, config.pool_max_size) == (1, 10)
    assert config.pool_timeout_seconds == 30.0
    assert config.application_name == "synthorg"
    assert config.statement_timeout_ms == 30_000
    assert config.connect_timeout_seconds == 10.0
    assert config.enable_timescaledb is False
    assert config.cost_records_chunk_interval == "7 days"
    assert config.audit_entries_chunk_interval == "7 days"


@pytest.mark.parametrize("missing", ["database", "username", "password"])
def test_postgres_required_fields(missing: str) -> None:
    fields: dict[str, Any] = {"database": "d", "username": "u", "password": "p"}
    del fields[missing]
    with pytest.raises(ValidationError):
        PostgresConfig(**fields)


@pytest.mark.parametrize("field", ["host", "database", "username", "application_name"])
def test_postgres_blank_strings_refused(field: str) -> None:
    with pytest.raises(ValidationError):
        pg(**{field: "  "})


@pytest.mark.parametrize("port", [1, 5432, 65535])
def test_port_in_range(port: int) -> None:
    assert pg(port=port).port == port


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_port_out_of_range(port: int) -> None:
    with pytest.raises(ValidationError):
        pg(port=port)


@pytest.mark.parametrize(
    "mode", ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
)
def test_ssl_modes(mode: str) -> None:
    assert pg(ssl_mode=mode).ssl_mode == mode


def test_ssl_mode_unknown_refused() -> None:
    with pytest.raises(ValidationError):
        pg(ssl_mode="always")


def test_pool_sizes() -> None:
    assert pg(pool_min_size=5, pool_max_size=5).pool_max_size == 5
    with pytest.raises(ValidationError, match="pool_min_size"):
        pg(pool_min_size=6, pool_max_size=5)
    with pytest.raises(ValidationError):
        pg(pool_min_size=0)
    with pytest.raises(ValidationError):
        pg(pool_max_size=0)


@pytest.mark.parametrize("field", ["pool_timeout_seconds", "connect_timeout_seconds"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 0.0, -1.0])
def test_float_fields_refuse_inf_nan_and_non_positive(field: str, value: float) -> None:
    with pytest.raises(ValidationError):
        pg(**{field: value})


def test_statement_timeout() -> None:
    assert pg(statement_timeout_ms=0).statement_timeout_ms == 0
    with pytest.raises(ValidationError):
        pg(statement_timeout_ms=-1)


@pytest.mark.parametrize(
    "interval",
    [
        "1 day",
        "7 days",
        "12 hours",
        "1 hour",
        "30 minutes",
        "500 milliseconds",
        "10 microseconds",
        "90 seconds",
        "2 weeks",
        "1 month",
        "3 months",
        "1 year",
    ],
)
@pytest.mark.parametrize(
    "field", ["cost_records_chunk_interval", "audit_entries_chunk_interval"]
)
def test_chunk_interval_accepted(field: str, interval: str) -> None:
    assert getattr(pg(**{field: interval}), field) == interval


@pytest.mark.parametrize(
    "interval",
    [
        "1 day'; DROP TABLE x; --",
        "7 days' ) ; SELECT pg_sleep(10); --",
        "0 days",
        "-1 days",
        "01 day",
        "1.5 days",
        "7days",
        "7  days",
        " 7 days",
        "7 days ",
        "7 days\n",
        "7 fortnights",
        "7 DAYS",
        "days",
        "7",
        "1 day 2 hours",
        "1234567890 days",
        "\uff17 days",
    ],
)
@pytest.mark.parametrize(
    "field", ["cost_records_chunk_interval", "audit_entries_chunk_interval"]
)
def test_chunk_interval_refused(field: str, interval: str) -> None:
    with pytest.raises(ValidationError):
        pg(**{field: interval})


def test_postgres_frozen_and_extra_forbidden() -> None:
    config = pg()
    with pytest.raises(ValidationError):
        setattr(config, "port", 1)  # noqa: B010 - bypass static checks
    with pytest.raises(ValidationError):
        pg(passwd="x")


def test_password_is_secret_str() -> None:
    config = pg()
    assert isinstance(config.password, SecretStr)
    assert config.password.get_secret_value() == PASSWORD


def test_password_hidden_from_repr_str_and_dumps() -> None:
    config = pg()
    wrapped = PersistenceConfig(backend="postgres", postgres=config)
    for text in (
        repr(config),
        str(config),
        str(config.model_dump()),
        config.model_dump_json(),
        repr(wrapped),
        str(wrapped),
        str(wrapped.model_dump()),
        wrapped.model_dump_json(),
    ):
        assert PASSWORD not in text


def test_password_hidden_from_logs(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("synthorg.tests.config")
    config = PersistenceConfig(backend="postgres", postgres=pg())
    with caplog.at_level(logging.DEBUG, logger="synthorg.tests.config"):
        logger.info("persistence config: %s", config)
        logger.info("persistence config repr: %r", config)
        logger.info("postgres settings: %s", config.postgres)
        logger.info("dump: %s", config.model_dump_json())
    assert len(caplog.records) == 4
    assert PASSWORD not in caplog.text
    assert "**********" in caplog.text


def test_conninfo_kwargs() -> None:
    config = pg(
        host="db.internal",
        port=6543,
        ssl_mode="verify-full",
        application_name="synthorg-api",
        statement_timeout_ms=1500,
        connect_timeout_seconds=2.1,
        operation_timeout_seconds=4.5,
    )
    expected = {
        "host": "db.internal",
        "port": 6543,
        "dbname": "synthorg",
        "user": "app",
        "password": PASSWORD,
        "sslmode": "verify-full",
        "connect_timeout": 3,
        "application_name": "synthorg-api",
        "options": "-c statement_timeout=1500 -c timezone=UTC",
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": 4500,
    }
    assert config.conninfo_kwargs() == expected
    # What the backend's pool keeps for its whole life: no password.
    del expected["password"]
    assert config.conninfo_kwargs(include_password=False) == expected


def test_conninfo_connect_timeout_rounds_up_never_to_zero() -> None:
    assert pg(connect_timeout_seconds=0.2).conninfo_kwargs()["connect_timeout"] == 1
    assert pg(connect_timeout_seconds=10.0).conninfo_kwargs()["connect_timeout"] == 10


# --- PersistenceConfig ------------------------------------------------------


def test_persistence_defaults() -> None:
    config = PersistenceConfig()
    assert config.backend == "sqlite"
    assert config.sqlite == SQLiteConfig()
    assert config.postgres is None


def test_persistence_postgres_backend() -> None:
    config = PersistenceConfig(backend="postgres", postgres=pg())
    assert config.postgres is not None
    assert config.postgres.database == "synthorg"


def test_persistence_from_mapping() -> None:
    config = PersistenceConfig.model_validate(
        {
            "backend": "postgres",
            "postgres": {"database": "d", "username": "u", "password": "p"},
        }
    )
    assert isinstance(config.postgres, PostgresConfig)


@pytest.mark.parametrize("backend", ["mysql", "SQLite", "", "  "])
def test_persistence_unknown_backend_refused(backend: str) -> None:
    with pytest.raises(ValidationError):
        PersistenceConfig(backend=backend)


def test_persistence_unknown_backend_message_lists_names() -> None:
    with pytest.raises(ValidationError) as info:
        PersistenceConfig(backend="mysql")
    assert "postgres, sqlite" in str(info.value)


def test_persistence_postgres_requires_settings() -> None:
    with pytest.raises(ValidationError, match="postgres"):
        PersistenceConfig(backend="postgres")


def test_persistence_sqlite_with_postgres_settings_allowed() -> None:
    # Keeping both blocks lets an operator switch backends with one key.
    config = PersistenceConfig(backend="sqlite", postgres=pg())
    assert config.backend == "sqlite"


def test_persistence_frozen_extra_forbidden() -> None:
    config = PersistenceConfig()
    with pytest.raises(ValidationError):
        setattr(config, "backend", "postgres")  # noqa: B010 - bypass static checks
    with pytest.raises(ValidationError):
        PersistenceConfig.model_validate({"backnd": "sqlite"})
    with pytest.raises(ValidationError):
        PersistenceConfig.model_validate({"sqlite": {"path": "x.db", "wal": False}})
