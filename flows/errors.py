"""Engine errors. Each has a stable `code` the apps forward in error events; the one table that
turns them into responses and events is apps.config.wire_errors."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Issue:
    """One static problem of a flow graph (flows.validate): its code, node/edge and a JSON pointer
    into the spec so the editor can point at the fault."""

    code: str
    message: str
    pointer: str
    node: str | None = None
    edge: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "pointer": self.pointer,
            "node": self.node,
            "edge": self.edge,
        }


class FlowError(Exception):
    code = "flow_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class FlowInvalid(FlowError):
    """The graph has issues. `flow_invalid`: it does not validate (a run start, a publish);
    `invalid_graph`: its JSON is not a flow spec at all. Answered 400 with the issues."""

    code = "flow_invalid"

    def __init__(self, issues: list[Issue], *, message: str | None = None, code: str | None = None) -> None:
        first = issues[0].message if issues else "The flow is invalid."
        count = f"{len(issues)} problems" if len(issues) != 1 else "a problem"
        super().__init__(message or f"The flow has {count}; the first: {first}", code=code)
        self.issues = issues


class NodeFailed(FlowError):
    code = "node_failed"


class ModelUnavailable(FlowError):
    """The model alias is unknown, or its server refused or dropped the call."""

    code = "model_unavailable"


class ModelTimeout(FlowError):
    code = "model_timeout"


class ContextTooLong(FlowError):
    """The prompt does not fit the model's context window, even after trimming what may be
    trimmed (retrieved documents, older history). The provider's own context error maps here too."""

    code = "context_window_exceeded"


class ToolUnavailable(FlowError):
    code = "tool_unavailable"


class EgressRefused(FlowError):
    code = "egress_refused"


# --- a model server's refusal, as the engine names it ---

DETAIL_LIMIT = 200
# vLLM and OpenAI: "This model's maximum context length is 2048 tokens. However, you requested ..."
_CONTEXT_LENGTH = re.compile(r"maximum context length is ([\d,]+) tokens", re.IGNORECASE)
_CONTEXT_CODES = {"context_length_exceeded", "context_window_exceeded"}


def clip(text: str, limit: int = DETAIL_LIMIT) -> str:
    """`text` cut to at most `limit` characters at a word boundary (never mid-word), with "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.") + "…"


def context_window_message(window: int | None) -> str:
    size = f" ({window:,} tokens)" if window else ""
    return (
        f"The model answered that the prompt is too long for its context window{size}: "
        "lower Top K or shorten the prompt"
    )


def model_refusal(alias: str, status: int | None, detail: str, code: str | None = None) -> FlowError:
    """A model server's error answer (an HTTP status, or an error event mid-stream when `status`
    is None) as the engine's error: a prompt over the context window is ContextTooLong with the
    window's size, anything else ModelUnavailable with the server's words, clipped."""
    found = _CONTEXT_LENGTH.search(detail)
    if found is not None or code in _CONTEXT_CODES:
        window = int(found.group(1).replace(",", "")) if found is not None else None
        return ContextTooLong(context_window_message(window))
    # What the server said stays in the server log: it may be an internal service's page, and a
    # client only ever gets a code and a generic message (security review, finding 1).
    if detail.strip():
        logger.warning("model %r refused (HTTP %s): %s", alias, status, clip(detail, 500))
    if status is None:
        return ModelUnavailable("The model server reported an error mid-stream.")
    return ModelUnavailable(f"The server of model {alias!r} answered HTTP {status}.")
