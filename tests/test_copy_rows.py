"""The PostgreSQL COPY row of every entity with a bulk method.

A COPY row is the entity's bound values except that JSON goes as its checked
text (no ``Jsonb`` wrapper): an entity without JSON fields shares
``_params``; one with them has its own ``_copy_row`` whose other values are
exactly ``_params``'s.
"""

from __future__ import annotations

import importlib

import pytest
from psycopg.types.json import Jsonb

from synthorg.persistence.generated.manifest import ENTITIES, EntityInfo
from tests.test_conformance import sample

JSON_KINDS = {"json", "list[str]", "list[int]", "list[json]"}
BULK = [
    e
    for e in ENTITIES
    if hasattr(
        importlib.import_module(f"synthorg.persistence.generated.postgres.{e.table}"),
        "_copy_row",
    )
]


def test_some_entities_of_each_sort_have_a_copy_row() -> None:
    with_json = [e for e in BULK if {f.kind for f in e.fields} & JSON_KINDS]
    assert with_json and len(with_json) < len(BULK)


@pytest.mark.parametrize("entity", BULK, ids=[e.table for e in BULK])
def test_copy_row_is_params_but_json_as_text(entity: EntityInfo) -> None:
    module = importlib.import_module(
        f"synthorg.persistence.generated.postgres.{entity.table}"
    )
    json_at = [i for i, f in enumerate(entity.fields) if f.kind in JSON_KINDS]
    if not json_at:
        assert module._copy_row is module._params
        return
    assert module._copy_row is not module._params
    row = sample(entity, 0)
    bound, copied = module._params(row), module._copy_row(row)
    assert len(bound) == len(copied) == len(entity.fields)
    for i, (b, c) in enumerate(zip(bound, copied, strict=True)):
        if i in json_at and b is not None:
            assert isinstance(b, Jsonb) and isinstance(c, str)
            assert c == b.dumps(b.obj)  # the same checked text
        else:
            assert c == b
