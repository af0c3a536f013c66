"""Ontology versioning: publish numbered versions of the ontology document.

Built by ``backend.build_ontology_versioning()`` on the backend's
connection (SQLite) or pool (PostgreSQL), over the generic version
repository of ``ontology_versions``. Publishing content identical to the
latest version returns that version instead of adding a duplicate; two
publishers racing for the same version number both succeed, one with the
next number (insert-or-ignore, then retry).
"""

from __future__ import annotations

from synthorg.persistence.errors import QueryError
from synthorg.persistence.generated.models import OntologyDocument
from synthorg.persistence.types import NotBlankStr
from synthorg.persistence.versions import (
    DEFAULT_VERSION_PAGE_SIZE,
    VersionRepository,
    VersionSnapshot,
    content_hash,
)

_ATTEMPTS = 16


class OntologyVersioningService:
    """Publish and read versions of an ontology document."""

    def __init__(self, versions: VersionRepository[OntologyDocument]) -> None:
        self._versions = versions

    async def publish(
        self, document: OntologyDocument, published_by: NotBlankStr
    ) -> VersionSnapshot[OntologyDocument]:
        """Store ``document`` as the next version (or return the identical latest)."""
        digest = content_hash(document)
        for _ in range(_ATTEMPTS):
            latest = await self._versions.get_latest_version(document.ontology_id)
            if latest is not None and latest.content_hash == digest:
                return latest
            snapshot = VersionSnapshot[OntologyDocument](
                entity_id=document.ontology_id,
                version=1 if latest is None else latest.version + 1,
                content_hash=digest,
                snapshot=document,
                saved_by=published_by,
            )
            if await self._versions.save_version(snapshot):
                return snapshot
        raise QueryError(
            f"ontology {document.ontology_id!r}: could not claim a version number "
            f"after {_ATTEMPTS} attempts (too many concurrent publishers)"
        )

    async def latest(
        self, ontology_id: NotBlankStr
    ) -> VersionSnapshot[OntologyDocument] | None:
        return await self._versions.get_latest_version(ontology_id)

    async def get(
        self, ontology_id: NotBlankStr, version: int
    ) -> VersionSnapshot[OntologyDocument] | None:
        return await self._versions.get_version(ontology_id, version)

    async def history(
        self,
        ontology_id: NotBlankStr,
        limit: int = DEFAULT_VERSION_PAGE_SIZE,
        offset: int = 0,
    ) -> tuple[VersionSnapshot[OntologyDocument], ...]:
        """Published versions, newest first."""
        return await self._versions.list_versions(ontology_id, limit, offset)
