"""The widget socket's client messages: text from the visitor and nothing that picks a flow,
version, graph, node config or model (unknown fields are refused)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.json_schema import SkipJsonSchema

from apps.runs.protocol import BadMessage

MAX_TOKEN = 600


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Ping(_Message):
    type: Literal["ping"]


class ChatSend(_Message):
    type: Literal["chat.send"]
    token: str = Field(max_length=MAX_TOKEN)
    message: str = Field(max_length=20_000)
    new_conversation: bool = False
    ref: str | None = Field(default=None, max_length=64)


class ChatResume(_Message):
    type: Literal["chat.resume"]
    token: str = Field(max_length=MAX_TOKEN)
    run: UUID
    after: int = Field(default=0, ge=0)


class ChatFeedback(_Message):
    type: Literal["chat.feedback"]
    token: str = Field(max_length=MAX_TOKEN)
    run: UUID
    rating: Literal["up", "down"]
    comment: str = Field(default="", max_length=2000)


WidgetMessage = Ping | ChatSend | ChatResume | ChatFeedback
_ADAPTER: TypeAdapter[WidgetMessage] = TypeAdapter(WidgetMessage)
_TYPES = {"ping", "chat.send", "chat.resume", "chat.feedback"}


def parse_widget_message(raw: Any) -> WidgetMessage:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise BadMessage("invalid_message", "Each message must be a JSON object with a 'type'.")
    if raw["type"] not in _TYPES:
        raise BadMessage("unknown_message_type", f"Unknown message type {raw['type']!r}.")
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "message"
        raise BadMessage("invalid_message", f"{raw['type']}: {where}: {first['msg']}") from None


# --- server -> visitor: what the widget socket sends (apps.widgets.chat.public_event and the
# consumer's replies), typed for the OpenAPI schema (apps/widgets/schema.py) and frontend/widget.


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PublicCitation(BaseModel):
    """A source as a visitor sees it; a field the source lacks is left out (never null)."""

    n: int | SkipJsonSchema[None] = None
    title: str | SkipJsonSchema[None] = None
    page: str | SkipJsonSchema[None] = None
    snippet: str | SkipJsonSchema[None] = None
    document: str | SkipJsonSchema[None] = None


class _PublicEvent(_Out):
    run: str
    seq: int


class PublicRunStarted(_PublicEvent):
    type: Literal["run.started"]


class PublicTokenData(_Out):
    text: str


class PublicToken(_PublicEvent):
    type: Literal["token"]
    data: PublicTokenData


class PublicFinishedData(_Out):
    answer: str | None
    citations: list[PublicCitation] | None = Field(default=None, description="When the widget shows sources")


class PublicRunFinished(_PublicEvent):
    type: Literal["run.finished"]
    data: PublicFinishedData


class PublicFailedData(_Out):
    code: str
    message: str


class PublicRunFailed(_PublicEvent):
    type: Literal["run.failed"]
    data: PublicFailedData


class PublicCancelledData(_Out):
    pass


class PublicRunCancelled(_PublicEvent):
    type: Literal["run.cancelled"]
    data: PublicCancelledData


class ChatAccepted(_Out):
    type: Literal["chat.accepted"]
    ref: str | None = None
    run: str
    conversation: str
    token: str | None = Field(default=None, description="A renewed session token (a new visitor)")
    visitor: str | None = Field(default=None, description="The visitor's credential to keep")


class FeedbackSaved(_Out):
    type: Literal["feedback.saved"]
    run: str


class WidgetError(_Out):
    type: Literal["error"]
    code: str
    message: str
    ref: str | None = None
    retry_after: int | None = None


class WidgetPong(_Out):
    type: Literal["pong"]


WidgetSocketMessage = (
    PublicRunStarted
    | PublicToken
    | PublicRunFinished
    | PublicRunFailed
    | PublicRunCancelled
    | ChatAccepted
    | FeedbackSaved
    | WidgetError
    | WidgetPong
)
