"""The pytest plugin users get: ``synthorg.persistence.testing.plugin``.

A user's test file runs in a pytest session of its own (``pytester``), with
no conftest and pytest-asyncio in its default strict mode: the fixtures
reach it only through the ``pytest11`` entry point.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from synthorg.persistence import PersistenceBackend
from synthorg.persistence.testing.plugin import BackendFactory

pytest_plugins = ["pytester"]

USER_TESTS = """
import pytest

from synthorg.persistence import Task, TaskType


def task(id: str) -> Task:
    return Task(id=id, title="Write the tests", type=TaskType.DEVELOPMENT,
                project="apollo", created_by="alice")


@pytest.fixture(params=["sqlite_backend", "postgres_backend"])
def backend(request):
    return request.getfixturevalue(request.param)


@pytest.mark.asyncio
async def test_both(backend):
    await backend.tasks.save(task("t-1"))
    assert (await backend.tasks.get("t-1")).title == "Write the tests"


@pytest.mark.asyncio
async def test_sqlite(sqlite_backend):
    await sqlite_backend.tasks.save(task("t-1"))
    assert (await sqlite_backend.tasks.get("t-1")).title == "Write the tests"


@pytest.mark.asyncio
async def test_sqlite_file(sqlite_file_backend, tmp_path):
    await sqlite_file_backend.tasks.save(task("t-1"))
    assert await sqlite_file_backend.tasks.get("t-1") is not None
    assert list(tmp_path.glob("*.db"))


@pytest.mark.asyncio
@pytest.mark.parametrize("n", [1, 2])
async def test_postgres(postgres_backend, n):
    # each test gets its own database: nothing of the other one is there
    assert await postgres_backend.tasks.get("t-1") is None
    await postgres_backend.tasks.save(task("t-1"))
    assert await postgres_backend.tasks.get("t-1") is not None
    status = await postgres_backend.migration_status()
    assert status.applied and not status.pending
"""


def test_entry_point_registers_the_plugin() -> None:
    (point,) = [
        p for p in entry_points(group="pytest11") if p.value.startswith("synthorg")
    ]
    assert (point.name, point.value) == (
        "synthorg_persistence",
        "synthorg.persistence.testing.plugin",
    )


def test_users_tests_pass_on_every_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)


def test_missing_server_binaries_fail_clearly(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No PostgreSQL binaries: an error naming the fix, never a skip."""
    monkeypatch.setenv("SYNTHORG_PG_BINDIR", str(pytester.path / "no-such-dir"))
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=3)
    result.stdout.fnmatch_lines(["*cannot start PostgreSQL*SYNTHORG_PG_BINDIR*"])
    assert "skipped" not in result.stdout.str()


def test_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess(
        "-q", "-p", "no:cacheprovider", "-p", "no:synthorg_persistence"
    )
    result.assert_outcomes(errors=6)
    result.stdout.fnmatch_lines(["*fixture 'sqlite_backend' not found*"])


def test_imports_stay_light() -> None:
    """The package never imports pytest; the plugin does not import psycopg."""
    code = (
        "import sys\n"
        "import synthorg.persistence\n"
        "assert 'pytest' not in sys.modules\n"
        "assert 'synthorg.persistence.testing' not in sys.modules\n"
        "import synthorg.persistence.testing.plugin\n"
        "assert 'psycopg' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("kind", ["sqlite", "sqlite_file", "postgres"])
async def test_factory_gives_empty_or_migrated_databases(
    synthorg_backend_factory: BackendFactory, kind: str
) -> None:
    empty = await synthorg_backend_factory(kind, migrated=False)  # type: ignore[arg-type]
    status = await empty.migration_status()
    assert status.pending and not status.applied
    migrated = await synthorg_backend_factory(kind)  # type: ignore[arg-type]
    status = await migrated.migration_status()
    assert status.applied and not status.pending
    assert await migrated.tasks.get("t-1") is None


def test_factory_refuses_a_premigrated_memory_config(
    synthorg_backend_factory: BackendFactory,
) -> None:
    with pytest.raises(ValueError, match="in-memory"):
        synthorg_backend_factory.config("sqlite")
    with pytest.raises(ValueError, match="kind must be one of"):
        synthorg_backend_factory.config("mysql")  # type: ignore[arg-type]


async def test_sqlite_backend_is_migrated_in_memory(
    sqlite_backend: PersistenceBackend,
) -> None:
    status = await sqlite_backend.migration_status()
    assert status.applied and not status.pending
