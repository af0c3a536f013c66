"""Tests for the persistence error hierarchy."""

from __future__ import annotations

from typing import Any

import pytest

from synthorg.persistence.errors import (
    ArtifactStorageFullError,
    ArtifactTooLargeError,
    ConstraintViolationError,
    DuplicateRecordError,
    MalformedRowError,
    MigrationError,
    MixedCurrencyAggregationError,
    PersistenceConnectionError,
    PersistenceError,
    PersistenceVersionConflictError,
    QueryError,
    RecordNotFoundError,
)

# (class, direct base, is_retryable) exactly as the API reference gives them.
HIERARCHY: list[tuple[type[PersistenceError], type[Exception], bool]] = [
    (PersistenceError, Exception, False),
    (PersistenceConnectionError, PersistenceError, True),
    (MigrationError, PersistenceError, False),
    (RecordNotFoundError, PersistenceError, False),
    (DuplicateRecordError, PersistenceError, False),
    (QueryError, PersistenceError, True),
    (ConstraintViolationError, QueryError, False),
    (PersistenceVersionConflictError, QueryError, False),
    (MalformedRowError, QueryError, False),
    (MixedCurrencyAggregationError, PersistenceError, False),
    (ArtifactTooLargeError, PersistenceError, False),
    (ArtifactStorageFullError, PersistenceError, False),
]


@pytest.mark.parametrize(("cls", "base", "retryable"), HIERARCHY)
def test_base_and_retryable(
    cls: type[PersistenceError], base: type[Exception], retryable: bool
) -> None:
    assert cls.__bases__ == (base,)
    assert issubclass(cls, PersistenceError)
    assert cls.is_retryable is retryable


def test_retryable_flag_visible_on_instances() -> None:
    assert PersistenceConnectionError("down").is_retryable is True
    assert QueryError("deadlock").is_retryable is True
    assert MalformedRowError("bad row").is_retryable is False


def test_query_subclasses_caught_as_query_error() -> None:
    for exc in (
        ConstraintViolationError("dup", constraint="pk"),
        PersistenceVersionConflictError("stale"),
        MalformedRowError("corrupt"),
    ):
        with pytest.raises(QueryError):
            raise exc


def test_whole_family_caught_by_base() -> None:
    with pytest.raises(PersistenceError):
        raise ArtifactStorageFullError("full")
    assert not issubclass(DuplicateRecordError, QueryError)
    assert not issubclass(MixedCurrencyAggregationError, QueryError)


def test_constraint_is_stored() -> None:
    exc = ConstraintViolationError("unique failed", constraint="tasks_pkey")
    assert exc.constraint == "tasks_pkey"
    assert str(exc) == "unique failed"


@pytest.mark.parametrize("blank", ["", " ", "\t\n"])
def test_blank_constraint_normalised(blank: str) -> None:
    exc = ConstraintViolationError("check failed", constraint=blank)
    assert exc.constraint == "<unknown>"


def test_constraint_is_keyword_only() -> None:
    # Called through Any so the type checker lets the wrong call through.
    cls: Any = ConstraintViolationError
    with pytest.raises(TypeError):
        cls("msg", "pk")


def test_mixed_currency_sorted_and_deduplicated() -> None:
    exc = MixedCurrencyAggregationError(currencies=["USD", "EUR", "USD"])
    assert exc.currencies == ("EUR", "USD")
    assert "EUR, USD" in str(exc)


def test_mixed_currency_custom_message() -> None:
    exc = MixedCurrencyAggregationError("narrow the filter", currencies=("GBP",))
    assert str(exc) == "narrow the filter"
    assert exc.currencies == ("GBP",)
