"""Errors of the builder that carry the validation issues with them."""

from __future__ import annotations

from typing import Any

from apps.config.errors import InvalidInput
from flows.validate import Issue


class FlowInvalidError(InvalidInput):
    """The graph has issues. `flow_invalid`: a publish of a draft that does not validate;
    `invalid_graph`: a graph whose JSON is not a flow spec at all. The API answers 400 with
    the issues (rendered by apps.config.exception_handler through `details`)."""

    code = "flow_invalid"

    def __init__(self, issues: list[Issue], *, message: str | None = None, code: str | None = None) -> None:
        first = issues[0].message if issues else "The flow is invalid."
        super().__init__(message or f"{len(issues)} problem(s) in the flow; first: {first}", code=code)
        self.issues = issues

    def details(self) -> dict[str, Any]:
        return {"issues": [issue.to_dict() for issue in self.issues]}
