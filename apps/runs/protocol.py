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
