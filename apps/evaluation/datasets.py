"""Dataset items: their shape, and CSV / JSONL uploads read into it with every bad row named."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from apps.config.errors import InvalidInput, TooLarge

MAX_ITEMS = 10_000
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_ROW_ERRORS = 50
LIST_SEPARATOR = "|"  # CSV cells holding lists: "doc-1|doc-2"
CSV_COLUMNS = {"message", "expected_output", "expected_sources", "tags", "variables", "history", "comment"}


class Turn(BaseModel, extra="forbid"):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class ItemIn(BaseModel, extra="forbid"):
    """One item as a client sends it (API, table editor, upload row)."""

    key: str | None = Field(default=None, max_length=36)  # kept from an earlier version when editing
    message: str = Field(min_length=1, max_length=20_000)
    variables: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=50)
    history: list[Turn] = Field(default_factory=list, max_length=100)
    expected_output: str = Field(default="", max_length=20_000)
    expected_sources: list[str] = Field(default_factory=list, max_length=50)
    tags: list[str] = Field(default_factory=list, max_length=20)
    comment: str = Field(default="", max_length=2000)


class RowsInvalid(InvalidInput):
    """Some rows are bad: nothing is stored, and each bad row is named with its reason."""

    code = "invalid_rows"

    def __init__(self, errors: list[dict[str, Any]], total: int) -> None:
        shown = errors[:MAX_ROW_ERRORS]
        first = shown[0]
        super().__init__(
            f"{len(errors)} of {total} rows are invalid; nothing was saved. Row {first['row']}: {first['message']}",
            code="invalid_rows",
        )
        self.errors = shown

    def details(self) -> dict[str, Any]:
        return {"errors": self.errors}


def _error_text(exc: ValidationError) -> tuple[str, str]:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    return field, f"{field}: {first['msg']}" if field else str(first["msg"])


def validate_items(rows: list[Any], *, row_offset: int = 1) -> list[ItemIn]:
    """Every row checked; RowsInvalid lists the bad ones (row numbers from `row_offset`)."""
    if len(rows) > MAX_ITEMS:
        raise TooLarge(f"A dataset holds at most {MAX_ITEMS} items.", code="too_many_items")
    items: list[ItemIn] = []
    errors: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        try:
            if not isinstance(row, dict):
                raise InvalidInput("a row is a JSON object")
            items.append(ItemIn.model_validate(row))
        except ValidationError as exc:
            field, message = _error_text(exc)
            errors.append({"row": index + row_offset, "field": field, "message": message})
        except InvalidInput as exc:
            errors.append({"row": index + row_offset, "field": "", "message": exc.message})
    if errors:
        raise RowsInvalid(errors, len(rows))
    return items


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(LIST_SEPARATOR) if part.strip()]


def _json_cell(cell: str, what: str) -> Any:
    try:
        return json.loads(cell)
    except ValueError:
        raise InvalidInput(f"{what} is not valid JSON") from None


def _csv_rows(text: str) -> list[Any]:
    reader = csv.DictReader(io.StringIO(text))
    columns = [name.strip() for name in reader.fieldnames or []]
    if "message" not in columns:
        raise InvalidInput("The CSV needs a header row with a 'message' column.", code="invalid_upload")
    unknown = [name for name in columns if name not in CSV_COLUMNS and not name.startswith("var.")]
    if unknown:
        raise InvalidInput(
            f"Unknown CSV column(s): {', '.join(unknown)}. Use {', '.join(sorted(CSV_COLUMNS))} or var.<name>.",
            code="invalid_upload",
        )
    rows: list[Any] = []
    for raw in reader:
        if None in raw:  # more cells than the header names
            rows.append({"__error__": "this row has more cells than the header"})
            continue
        cells = {key.strip(): (value or "") for key, value in raw.items()}
        row: dict[str, Any] = {"message": cells.get("message", "")}
        try:
            for name in ("expected_output", "comment"):
                if cells.get(name):
                    row[name] = cells[name]
            for name in ("expected_sources", "tags"):
                if cells.get(name):
                    row[name] = _split(cells[name])
            if cells.get("variables"):
                row["variables"] = _json_cell(cells["variables"], "variables")
            if cells.get("history"):
                row["history"] = _json_cell(cells["history"], "history")
            variables = {key[4:]: value for key, value in cells.items() if key.startswith("var.") and value != ""}
            if variables:
                row["variables"] = {**(row.get("variables") or {}), **variables}
        except InvalidInput as exc:
            row = {"__error__": exc.message}
        rows.append(row)
    return rows


def _jsonl_rows(text: str) -> list[Any]:
    rows: list[Any] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            rows.append({"__error__": "the line is not valid JSON"})
    return rows


def parse_upload(name: str, data: bytes) -> list[ItemIn]:
    """A CSV or JSONL file -> items; RowsInvalid (every bad row), or InvalidInput for the file."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise TooLarge(f"Upload at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.", code="upload_too_large")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("The file is not UTF-8 text.", code="invalid_upload") from None
    lowered = name.lower()
    if lowered.endswith(".csv"):
        rows = _csv_rows(text)
    elif lowered.endswith((".jsonl", ".ndjson", ".json")):
        rows = _jsonl_rows(text)
    else:
        raise InvalidInput("Upload a .csv or .jsonl file.", code="invalid_upload")
    if not rows:
        raise InvalidInput("The file holds no rows.", code="invalid_upload")
    errors: list[dict[str, Any]] = []
    checked: list[Any] = []
    for index, row in enumerate(rows):
        if isinstance(row, dict) and "__error__" in row:
            errors.append({"row": index + 1, "field": "", "message": row["__error__"]})
            checked.append({"message": "placeholder"})
        else:
            checked.append(row)
    try:
        items = validate_items(checked)
    except RowsInvalid as exc:
        errors.extend(exc.errors)
    if errors:
        raise RowsInvalid(sorted(errors, key=lambda error: error["row"]), len(rows))
    return items
