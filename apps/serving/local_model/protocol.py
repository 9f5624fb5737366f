"""The OpenAI chat-completions request as the embedded model server accepts it, and its errors.

Fields it uses: model, messages (text content), max_tokens / max_completion_tokens, temperature,
top_p, seed, stream, stream_options.include_usage. What it cannot honour (n > 1, tools, stop) is
refused with a 400 rather than silently ignored. No Django, no torch: it imports in milliseconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ROLES = {"system", "developer", "user", "assistant", "tool"}


class ApiError(Exception):
    """An OpenAI-style error response: {"error": {"message", "type", "code"}}."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": None, "code": self.code}}


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, str]]
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stream: bool = False
    include_usage: bool = False


def _number(payload: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = payload.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ApiError(400, f"'{name}' must be a number from {low:g} to {high:g}.")
    return float(value)


def _integer(payload: dict[str, Any], name: str, low: int) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ApiError(400, f"'{name}' must be an integer of at least {low}.")
    return value


def _content(raw: Any, index: int) -> str:
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list):
        parts: list[str] = []
        for part in raw:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ApiError(400, f"messages[{index}].content: only text parts are supported.")
            parts.append(part["text"])
        return "".join(parts)
    raise ApiError(400, f"messages[{index}].content must be a string or a list of text parts.")


def _messages(raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "'messages' must be a non-empty list.")
    messages = []
    for index, message in enumerate(raw):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ApiError(400, f"messages[{index}] needs a role among {', '.join(sorted(ROLES))}.")
        role = "system" if message["role"] == "developer" else message["role"]
        messages.append({"role": role, "content": _content(message.get("content"), index)})
    return messages


def parse_chat_request(body: bytes, served_name: str) -> ChatRequest:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "The body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "The body must be a JSON object.")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "'model' is required.")
    if model != served_name:
        message = f"The model '{model}' does not exist; this server has '{served_name}'."
        raise ApiError(404, message, code="model_not_found")
    if payload.get("n") not in (None, 1):
        raise ApiError(400, "Only n=1 is supported.")
    if payload.get("tools"):
        raise ApiError(400, "This model does not support tools.")
    if payload.get("stop"):
        raise ApiError(400, "Stop sequences are not supported by this server.")
    stream = payload.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be a boolean.")
    options = payload.get("stream_options") or {}
    if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
        raise ApiError(400, "'stream_options' must be an object with a boolean include_usage.")
    max_tokens = _integer(payload, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _integer(payload, "max_tokens", 1)
    return ChatRequest(
        messages=_messages(payload.get("messages")),
        max_tokens=max_tokens,
        temperature=_number(payload, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(payload, "top_p", 1.0, 0.0, 1.0) or 1.0,
        seed=_integer(payload, "seed", 0),
        stream=stream,
        include_usage=bool(options.get("include_usage", False)),
    )
