"""Operational-data persistence for SynthOrg: SQLite and PostgreSQL backends.

Repositories are generated from ``schema/*.yaml`` (see ``docs/``); this
package re-exports the public names of the reference API. Importing it never
imports psycopg: the PostgreSQL backend loads on first use.
"""

from synthorg.persistence.config import (
    PersistenceConfig,
    PostgresConfig,
    PostgresSslMode,
    SQLiteConfig,
)
from synthorg.persistence.errors import (
    ArtifactStorageFullError,
    ArtifactTooLargeError,
    ConstraintViolationError,
    DuplicateRecordError,
    InvalidValueError,
    MalformedRowError,
    MigrationError,
    MixedCurrencyAggregationError,
    PersistenceAuthenticationError,
    PersistenceConnectionError,
    PersistenceError,
    PersistenceVersionConflictError,
    QueryError,
    RecordNotFoundError,
    SchemaVersionError,
)
from synthorg.persistence.factory import create_backend, default_registry
from synthorg.persistence.generated import *  # noqa: F403
from synthorg.persistence.generated import __all__ as _generated_names
from synthorg.persistence.idempotency import IdempotencyClaim
from synthorg.persistence.keyset import MAX_BATCH_SIZE
from synthorg.persistence.protocol import PersistenceBackend
from synthorg.persistence.registry import PersistenceBackendRegistry
from synthorg.persistence.repository_protocols import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    FilteredQueryRepository,
    IdKeyedRepository,
)
from synthorg.persistence.services.escalations import EscalationQueue
from synthorg.persistence.services.lockouts import AuthConfig, LockoutRepository
from synthorg.persistence.services.ontology import OntologyVersioningService
from synthorg.persistence.types import NotBlankStr
from synthorg.persistence.versions import (
    DEFAULT_VERSION_PAGE_SIZE,
    VersionRepository,
    VersionSnapshot,
    content_hash,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_PAGE_SIZE",
    "MAX_BATCH_SIZE",
    "MAX_PAGE_SIZE",
    "DEFAULT_VERSION_PAGE_SIZE",
    "AuthConfig",
    "EscalationQueue",
    "LockoutRepository",
    "OntologyVersioningService",
    "VersionRepository",
    "VersionSnapshot",
    "content_hash",
    "ArtifactStorageFullError",
    "ArtifactTooLargeError",
    "ConstraintViolationError",
    "DuplicateRecordError",
    "FilteredQueryRepository",
    "IdempotencyClaim",
    "IdKeyedRepository",
    "InvalidValueError",
    "MalformedRowError",
    "MigrationError",
    "MixedCurrencyAggregationError",
    "NotBlankStr",
    "PersistenceBackend",
    "PersistenceAuthenticationError",
    "PersistenceBackendRegistry",
    "PersistenceConfig",
    "PersistenceConnectionError",
    "PersistenceError",
    "PersistenceVersionConflictError",
    "PostgresConfig",
    "PostgresSslMode",
    "QueryError",
    "RecordNotFoundError",
    "SQLiteConfig",
    "SchemaVersionError",
    "create_backend",
    "default_registry",
    *_generated_names,
]
