"""Tests for the lazily importing backend registry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from synthorg.persistence.config import PersistenceConfig, PostgresConfig, SQLiteConfig
from synthorg.persistence.errors import PersistenceConnectionError
from synthorg.persistence.factory import create_backend
from synthorg.persistence.registry import (
    PersistenceBackendRegistry,
    default_registry,
)

SRC = Path(__file__).resolve().parents[1] / "src"


def test_default_names() -> None:
    assert default_registry.names() == frozenset({"sqlite", "postgres"})
    assert "sqlite" in default_registry
    assert "mysql" not in default_registry


def test_unknown_name_lists_registered_names() -> None:
    with pytest.raises(PersistenceConnectionError) as info:
        default_registry.load("mysql")
    message = str(info.value)
    assert "'mysql'" in message
    assert "'postgres'" in message
    assert "'sqlite'" in message


def test_missing_required_module_gives_install_hint() -> None:
    registry = PersistenceBackendRegistry()
    registry.register(
        "fake",
        "json",
        "JSONDecoder",
        requires="synthorg_no_such_driver_xyz",
        install_hint="pip install 'synthorg-persistence[fake]'",
    )
    with pytest.raises(PersistenceConnectionError) as info:
        registry.load("fake")
    assert str(info.value) == (
        "the 'fake' backend needs synthorg_no_such_driver_xyz: "
        "pip install 'synthorg-persistence[fake]'"
    )
    assert isinstance(info.value.__cause__, ImportError)


def test_backend_module_missing_third_party_import() -> None:
    registry = PersistenceBackendRegistry()
    registry.register(
        "fake",
        "synthorg_no_such_backend_xyz.backend",
        "Backend",
        install_hint="pip install fake",
    )
    with pytest.raises(PersistenceConnectionError, match=r"needs .*pip install fake"):
        registry.load("fake")


def test_missing_class_is_reported() -> None:
    registry = PersistenceBackendRegistry()
    registry.register("fake", "json", "NoSuchClass")
    with pytest.raises(PersistenceConnectionError, match="NoSuchClass"):
        registry.load("fake")


def test_load_returns_class_and_register_replaces() -> None:
    import json

    registry = PersistenceBackendRegistry()
    registry.register("fake", "json", "JSONDecoder")
    assert registry.load("fake") is json.JSONDecoder
    registry.register("fake", "json", "JSONEncoder")
    assert registry.load("fake") is json.JSONEncoder
    assert registry.names() == frozenset({"fake"})


def test_register_refuses_blank() -> None:
    registry = PersistenceBackendRegistry()
    with pytest.raises(ValueError, match="name"):
        registry.register(" ", "json", "JSONDecoder")


def test_importing_config_and_registry_does_not_import_drivers() -> None:
    code = (
        "import sys\n"
        "import synthorg.persistence.config, synthorg.persistence.registry\n"
        "import synthorg.persistence.factory\n"
        "bad = sorted(m for m in sys.modules if m.startswith('psycopg')"
        " or m.startswith('synthorg.persistence.sqlite')"
        " or m.startswith('synthorg.persistence.postgres'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_load_sqlite_backend() -> None:
    cls = default_registry.load("sqlite")
    assert cls.__name__ == "SQLitePersistenceBackend"
    assert cls.__module__ == "synthorg.persistence.sqlite.backend"


class _RecordingBackend:
    """Stand-in backend class that records what it was constructed with."""

    def __init__(self, settings: object) -> None:
        self.settings = settings


def _fake_registry() -> PersistenceBackendRegistry:
    registry = PersistenceBackendRegistry()
    for name in ("sqlite", "postgres"):
        registry.register(name, __name__, "_RecordingBackend")
    return registry


def test_create_backend_passes_backend_specific_settings() -> None:
    registry = _fake_registry()
    sqlite_config = PersistenceConfig(sqlite=SQLiteConfig(path="data/a.db"))
    backend = create_backend(sqlite_config, registry=registry)
    assert isinstance(backend, _RecordingBackend)
    assert backend.settings is sqlite_config.sqlite

    postgres = PostgresConfig(database="d", username="u", password=SecretStr("p"))
    pg_config = PersistenceConfig(backend="postgres", postgres=postgres)
    backend = create_backend(pg_config, registry=registry)
    assert isinstance(backend, _RecordingBackend)
    assert backend.settings is postgres


def test_create_backend_postgres_without_settings() -> None:
    # model_construct skips validation, as a hand-built config might.
    config = PersistenceConfig.model_construct(
        backend="postgres", sqlite=SQLiteConfig(), postgres=None
    )
    with pytest.raises(PersistenceConnectionError, match="postgres"):
        create_backend(config, registry=_fake_registry())


def test_create_backend_unknown_name() -> None:
    with pytest.raises(PersistenceConnectionError, match="registered"):
        create_backend(PersistenceConfig(), registry=PersistenceBackendRegistry())
