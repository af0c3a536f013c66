"""The SQLite database file: owner-only permissions, no unsafe URI parameters.

Issue 9, defect 12 (the SQLite half). The database holds password hashes
and connection secrets: a new file and its ``-wal``/``-shm`` companions are
created 0600 whatever the umask lets through, and an existing file keeps
its permissions (never widened; a readable one is warned about). ``file:``
URI parameters that switch locking or durability off (or that SQLite does
not document) are refused by :class:`SQLiteConfig`, naming the parameter.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from synthorg.persistence import PersistenceConfig, SQLiteConfig, create_backend


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual 022 umask: files SQLite creates by itself come out 0644."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _use(path: str) -> None:
    backend = create_backend(PersistenceConfig(sqlite=SQLiteConfig(path=path)))
    await backend.connect()
    try:
        await backend.migrate()
        await backend.set_setting("k", "v")  # the WAL now holds a frame
        assert await backend.get_setting("k") == "v"
    finally:
        await backend.disconnect()


@pytest.mark.usefixtures("open_umask")
@pytest.mark.parametrize("uri", [False, True], ids=["path", "file-uri"])
async def test_a_new_database_and_its_wal_files_are_owner_only(
    tmp_path: Path, uri: bool
) -> None:
    db = tmp_path / "secret.db"
    backend = create_backend(
        PersistenceConfig(
            sqlite=SQLiteConfig(path=f"file:{db}?mode=rwc" if uri else str(db))
        )
    )
    await backend.connect()
    try:
        await backend.migrate()
        await backend.set_setting("k", "v")
        companions = [tmp_path / "secret.db-wal", tmp_path / "secret.db-shm"]
        # Checked while connected: WAL mode keeps both files open.
        for path in [db, *companions]:
            assert path.exists(), path
            assert _mode(path) == 0o600, (path, oct(_mode(path)))
    finally:
        await backend.disconnect()
    assert _mode(db) == 0o600


@pytest.mark.usefixtures("open_umask")
async def test_an_existing_file_keeps_its_permissions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "shared.db"
    db.touch()
    db.chmod(0o640)
    with caplog.at_level(logging.WARNING, logger="synthorg.persistence"):
        await _use(str(db))
    assert _mode(db) == 0o640  # neither widened nor changed behind the owner
    assert any("readable by other users" in r.getMessage() for r in caplog.records)
    # An owner-only file stays owner-only and raises no warning.
    private = tmp_path / "private.db"
    private.touch()
    private.chmod(0o600)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="synthorg.persistence"):
        await _use(str(private))
    assert _mode(private) == 0o600
    assert not any("readable" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("file:x.db?vfs=unix-none", "unix-none"),
        ("file:x.db?vfs=win32-none", "win32-none"),
        ("file:x.db?vfs=unix-dotfile", "unix-dotfile"),
        ("file:x.db?vfs=unix-flock", "unix-flock"),
        ("file:x.db?nolock=1", "nolock"),
        ("file:x.db?mode=rwc&nolock=true", "nolock"),
        ("file:x.db?immutable=1", "immutable"),
        ("file:x.db?modeof=%2Fetc%2Fpasswd", "modeof"),
        ("file:x.db?no%6cock=1", "nolock"),  # percent-encoded, as SQLite decodes
        ("file:x.db?some_vfs_option=1", "some_vfs_option"),
    ],
)
def test_uri_parameters_that_defeat_locking_are_refused(path: str, named: str) -> None:
    with pytest.raises(ValidationError) as refused:
        SQLiteConfig(path=path)
    assert named in str(refused.value)


@pytest.mark.parametrize(
    "path",
    [
        "file:x.db",
        "file:x.db?mode=rwc",
        "file:x.db?mode=ro",
        "file:x.db?cache=private&psow=0",
        "file:x.db?vfs=unix",
        "file:x.db?vfs=unix-excl",
        "file::memory:?cache=shared",
        "file:mem?mode=memory&cache=shared",
        "plain.db",
    ],
)
def test_uri_parameters_that_keep_locking_are_accepted(path: str) -> None:
    assert SQLiteConfig(path=path).path == path
