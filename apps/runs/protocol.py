"""The WebSocket protocol's client messages, parsed strictly (bad input -> an error event)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from apps.config.errors import InvalidInput

MAX_MESSAGE_BYTES = 256 * 1024
MAX_INPUT_CHARS = 100_000


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Ping(_Message):
    type: Literal["ping"]


class RunStart(_Message):
    type: Literal["run.start"]
    flow: UUID
    version: int | Literal["draft", "published"] = "published"
    inputs: dict[str, Any] = Field(default_factory=dict)
    session: UUID | None = None
    ref: str | None = Field(default=None, max_length=64, description="Echoed back so a client can match replies")

    @field_validator("inputs")
    @classmethod
    def _small_inputs(cls, inputs: dict[str, Any]) -> dict[str, Any]:
        for key, value in inputs.items():
            if isinstance(value, str) and len(value) > MAX_INPUT_CHARS:
                raise ValueError(f"input {key!r} is longer than {MAX_INPUT_CHARS} characters")
        return inputs


class RunCancel(_Message):
    type: Literal["run.cancel"]
    run: UUID


class RunResume(_Message):
    type: Literal["run.resume"]
    run: UUID
    after: int = Field(default=0, ge=0)


ClientMessage = Ping | RunStart | RunCancel | RunResume
_ADAPTER: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


class BadMessage(InvalidInput):
    """A socket message refused before anything runs (an error event with `code`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def parse_client_message(raw: Any) -> ClientMessage:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise BadMessage("invalid_message", "Each message must be a JSON object with a 'type'.")
    if raw["type"] not in {"ping", "run.start", "run.cancel", "run.resume"}:
        raise BadMessage("unknown_message_type", f"Unknown message type {raw['type']!r}.")
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "message"
        raise BadMessage("invalid_message", f"{raw['type']}: {where}: {first['msg']}") from None


# --- server -> client: the run events and replies, typed for the OpenAPI schema (apps/runs/schema.py)
# and the frontend's generated types. The engine builds the events (flows/events.py); these models
# describe them and are never used to build or check them on the hot path.


class _Out(BaseModel):
    """A server message's shape (fields the frontend may rely on; the server may send more)."""


class ModelUsage(_Out):
    input_tokens: int
    output_tokens: int


class Usage(_Out):
    input_tokens: int = 0
    output_tokens: int = 0
    by_model: dict[str, ModelUsage] = Field(default_factory=dict)


class RunSummary(_Out):
    latency_ms: float | None = None
    ttft_ms: float | None = Field(default=None, description="Time to the run's first token")
    usage: Usage | None = None


class RunStartedData(_Out):
    nodes: int | None = Field(default=None, description="How many nodes the flow has")


class NodeStartedData(_Out):
    type: str = Field(description="The node's type")
    inputs: dict[str, Any] = Field(default_factory=dict, description="A preview of each input port's value")


class TokenData(_Out):
    text: str


class NodeFinishedData(_Out):
    outputs: dict[str, Any] = Field(default_factory=dict, description="A preview of each output port's value")
    latency_ms: float
    usage: Usage | None = None
    notes: dict[str, Any] | None = Field(default=None, description="What the node did to fit, e.g. `context`")


class NodeSkippedData(_Out):
    reason: str


class NodeFailedData(_Out):
    code: str
    message: str
    latency_ms: float | None = None


class RunFinishedData(RunSummary):
    outputs: dict[str, Any] = Field(description="Each output node's result, by name: {value, citations?, ...}")


class RunFailedData(RunSummary):
    code: str = Field(description="Stable, for programs (apps.config.wire_errors)")
    message: str = Field(description="Written for people")
    node: str | None = Field(default=None, description="The node that failed, if one did")


class _Event(_Out):
    run: str
    seq: int
    node: str | None = None
    at: float | str | None = None


class RunStartedEvent(_Event):
    type: Literal["run.started"]
    data: RunStartedData
    ref: str | None = Field(default=None, description="The run.start's ref, echoed")


class NodeStartedEvent(_Event):
    type: Literal["node.started"]
    data: NodeStartedData


class TokenEvent(_Event):
    type: Literal["token"]
    data: TokenData


class NodeFinishedEvent(_Event):
    type: Literal["node.finished"]
    data: NodeFinishedData


class NodeSkippedEvent(_Event):
    type: Literal["node.skipped"]
    data: NodeSkippedData


class NodeFailedEvent(_Event):
    type: Literal["node.failed"]
    data: NodeFailedData


class RunFinishedEvent(_Event):
    type: Literal["run.finished"]
    data: RunFinishedData


class RunFailedEvent(_Event):
    type: Literal["run.failed"]
    data: RunFailedData


class RunCancelledEvent(_Event):
    type: Literal["run.cancelled"]
    data: RunSummary


class ErrorIssue(_Out):
    code: str
    message: str
    pointer: str
    node: str | None = None
    edge: str | None = None


class ErrorEvent(_Out):
    """Anything refused: a bad message, a run that cannot start (apps.config.wire_errors)."""

    type: Literal["error"]
    code: str
    message: str
    ref: str | None = None
    run: str | None = None
    issues: list[ErrorIssue] | None = Field(default=None, description="flow_invalid: the flow's problems")
    retry_after: int | None = Field(default=None, description="Seconds to wait (rate limits)")


class Pong(_Out):
    type: Literal["pong"]


RunEventMessage = (
    RunStartedEvent
    | NodeStartedEvent
    | TokenEvent
    | NodeFinishedEvent
    | NodeSkippedEvent
    | NodeFailedEvent
    | RunFinishedEvent
    | RunFailedEvent
    | RunCancelledEvent
)
RunSocketMessage = RunEventMessage | ErrorEvent | Pong
