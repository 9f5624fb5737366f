"""CSV / JSONL uploads: every bad row named, nothing half-read."""

from __future__ import annotations

import pytest

from apps.config.errors import InvalidInput
from apps.evaluation.datasets import RowsInvalid, parse_upload


def test_upload_csv_rows_with_lists_and_variables() -> None:
    data = b'message,expected_output,tags,expected_sources,var.lang\nHi,Hello,a|b,d1,fr\n"Two, words",,,,\n'
    items = parse_upload("golden.csv", data)
    assert [item.message for item in items] == ["Hi", "Two, words"]
    assert items[0].tags == ["a", "b"]
    assert items[0].expected_sources == ["d1"]
    assert items[0].variables == {"lang": "fr"}


def test_upload_jsonl_names_every_bad_row() -> None:
    data = (
        b'{"message": "ok"}\nnot json\n{"message": ""}\n'
        b'{"message": "x", "history": [{"role": "bot", "content": "y"}]}\n'
    )
    with pytest.raises(RowsInvalid) as caught:
        parse_upload("set.jsonl", data)
    rows = [(error["row"], error["field"]) for error in caught.value.errors]
    assert rows == [(2, ""), (3, "message"), (4, "history.0.role")]
    assert "3 of 4 rows" in caught.value.message


def test_upload_csv_unknown_column_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_upload("x.csv", b"message,answer\nhi,there\n")
    assert "answer" in caught.value.message


def test_upload_other_files_refused() -> None:
    with pytest.raises(InvalidInput):
        parse_upload("x.xlsx", b"PK")
    with pytest.raises(InvalidInput):
        parse_upload("x.csv", b"\xff\xfe")
