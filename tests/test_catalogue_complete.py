"""Every accessor and builder the reference names exists and works.

The accessor names are read from the shared ``REPOSITORIES.md`` itself (its
table's first column), so the catalogue and the backends cannot drift apart
silently: a name there without a working accessor here fails.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from synthorg.persistence import AuthConfig, PersistenceBackend
from synthorg.persistence.generated.manifest import ENTITIES, VERSIONS
from synthorg.persistence.generated.repositories import ACCESSORS

REPOSITORIES_MD = (
    Path(__file__).resolve().parents[2] / "shared" / "reference" / "REPOSITORIES.md"
)
BUILDERS = ("build_lockouts", "build_escalations", "build_ontology_versioning")


def catalogue_accessors() -> list[str]:
    """The accessor names in the first column of REPOSITORIES.md's table."""
    names: list[str] = []
    for line in REPOSITORIES_MD.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("accessor", "") or set(cells[0]) <= {"-"}:
            continue
        names += re.findall(r"[a-z_]+", cells[0])
    return names


CATALOGUE = catalogue_accessors()
BY_ACCESSOR = {e.accessor: e for e in ENTITIES}
VERSION_ACCESSORS = dict(VERSIONS)


def test_the_catalogue_is_read() -> None:
    # 44 rows, the version row naming six accessors.
    assert len(CATALOGUE) >= 44
    assert {"tasks", "settings", "role_versions", "fine_tune_checkpoints"} <= set(
        CATALOGUE
    )


def test_protocol_lists_every_accessor_and_builder() -> None:
    members = set(dir(PersistenceBackend))
    assert [n for n in CATALOGUE if n not in members] == []
    assert [n for n in BUILDERS if n not in members] == []
    assert set(CATALOGUE) <= set(ACCESSORS)


async def _touch(backend: PersistenceBackend, name: str) -> Any:
    """One cheap, real call through the accessor."""
    repo = getattr(backend, name)
    if name in VERSION_ACCESSORS:
        return await repo.count_versions("no-such-entity")
    entity = BY_ACCESSOR[name]
    if "append_only" in entity.kinds:
        assert entity.filter_spec is not None
        return await repo.query(entity.filter_spec(), limit=1)
    return await repo.list_items(limit=1)


@pytest.mark.parametrize("name", CATALOGUE)
async def test_every_catalogue_accessor_works(
    backend: PersistenceBackend, name: str
) -> None:
    result = await _touch(backend, name)
    assert result in ((), 0)  # a fresh database: empty, and no error


async def test_every_builder_works(backend: PersistenceBackend) -> None:
    lockouts = backend.build_lockouts(AuthConfig())
    assert await lockouts.is_locked("nobody") is False
    queue = backend.build_escalations()
    assert await queue.list_pending() == ()
    ontology = backend.build_ontology_versioning()
    assert await ontology.latest("none") is None
