"""Failing specs keep their expected error text.

Each ``errors/<case>/schema`` is an invalid schema and
``errors/<case>/expected_error.txt`` the exact ``str(SpecError)`` it must
raise: the file, the YAML path (or line and column) and the problem; when
a run finds several problems (in one file or across files) the text lists
every one, numbered (:class:`codegen.spec.SpecErrors`).
``UPDATE_GOLDEN=1`` rewrites the expected text instead of comparing; read
the new messages before committing them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from codegen.pipeline import render_schema
from codegen.spec import SpecError
from tests.codegen._support import ERRORS, case_names, update_golden

# Every case the suite promises; a deleted folder must fail, not shrink it.
REQUIRED = {
    "accessor_differs_from_file",
    "duplicate_key",
    "enum_literal_typo",
    "enum_value_suggestion",
    "every_error_reported",
    "list_type_flow_style",
    "misplaced_key",
    "method_key_of_another_kind",
    "method_kind_typo",
    "list_type_parsed_as_list",
    "lookup_unknown_field_before_unique",
    "unknown_field_suggestions",
    "unknown_type_suggestion",
    "bounds_on_str",
    "datetime_default_not_now",
    "duplicate_table",
    "enum_default_not_a_value",
    "filter_unknown_field",
    "filtered_query_without_filters",
    "invalid_yaml",
    "optional_key_field",
    "order_not_ending_in_key",
    "protect_optional_field",
    "protect_unknown_field",
    "reserved_keyword",
    "reserved_pydantic_name",
    "type_and_enum",
    "unknown_enum",
    "unknown_top_level_key",
    "wrong_field_type",
}


@pytest.mark.parametrize("case", case_names(ERRORS))
def test_spec_error(case: str, tmp_path: Path) -> None:
    folder = ERRORS / case
    with pytest.raises(SpecError) as caught:
        render_schema(folder / "schema", tmp_path)
    error = caught.value
    # Whatever the wording, the message names a schema file of the case and
    # says where in it the problem is.
    assert (folder / error.file).is_file(), error.file
    assert error.file.startswith("schema/")
    assert error.path or " at line " in error.message, str(error)
    expected_file = folder / "expected_error.txt"
    if update_golden():
        expected_file.write_text(str(error) + "\n", encoding="utf-8")
        return
    assert expected_file.is_file(), f"{case}: run with UPDATE_GOLDEN=1 to create it"
    assert str(error) == expected_file.read_text(encoding="utf-8").strip()


def test_error_cases_exist() -> None:
    assert set(case_names(ERRORS)) >= REQUIRED
