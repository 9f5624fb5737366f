"""Engine errors. Each has a stable `code` the apps forward in error events."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flows.validate import Issue


class FlowError(Exception):
    code = "flow_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class FlowInvalid(FlowError):
    code = "flow_invalid"

    def __init__(self, issues: list[Issue]) -> None:
        first = issues[0].message if issues else "The flow is invalid."
        super().__init__(f"{len(issues)} problem(s) in the flow; first: {first}")
        self.issues = issues


class NodeFailed(FlowError):
    code = "node_failed"


class ModelUnavailable(FlowError):
    """The model alias is unknown, or its server refused or dropped the call."""

    code = "model_unavailable"


class ModelTimeout(FlowError):
    code = "model_timeout"


class ToolUnavailable(FlowError):
    code = "tool_unavailable"


class EgressRefused(FlowError):
    code = "egress_refused"
