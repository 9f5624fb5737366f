"""One model call for the nodes that reason in steps (structured output, agent): stream the
reply, merge its chunks (text, tool calls, usage), count its tokens, and turn a model client's
failure into the engine's error. The LLM node keeps its own leaner streaming path."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessageChunk, BaseMessage

from flows.errors import FlowError, ModelTimeout
from flows.ports import Ports
from flows.registry import NodeContext

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


async def call_model(
    runnable: Any,
    messages: list[BaseMessage],
    *,
    alias: str,
    ports: Ports,
    ctx: NodeContext,
    timeout: float | None,
    on_text: Callable[[str], None] | None = None,
) -> AIMessageChunk:
    reply: AIMessageChunk | None = None
    try:
        async with asyncio.timeout(timeout):
            async for chunk in runnable.astream(messages):
                if on_text is not None and isinstance(chunk.content, str) and chunk.content:
                    on_text(chunk.content)
                reply = chunk if reply is None else reply + chunk
    except TimeoutError:
        raise ModelTimeout(f"The model {alias!r} did not finish within {timeout:g} s.") from None
    except FlowError:
        raise
    except Exception as exc:
        if ports.classify_model_error is None:
            raise
        raise ports.classify_model_error(exc, alias) from exc
    reply = reply if reply is not None else AIMessageChunk(content="")
    usage: dict[str, Any] = dict(reply.usage_metadata or {})
    ctx.usage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)), alias)
    return reply


def tokens_of(reply: AIMessageChunk) -> int:
    usage: dict[str, Any] = dict(reply.usage_metadata or {})
    return int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))


def parse_json_object(text: str) -> Any:
    """The JSON a model wrote: the whole text, a fenced block, or the outermost {...}; raises ValueError."""
    text = text.strip()
    candidates = [text]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    if "{" in text and "}" in text:
        candidates.append(text[text.index("{") : text.rindex("}") + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise ValueError("the answer holds no JSON object")
