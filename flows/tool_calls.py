"""Tool calls in the trace: a tool that talks to another system (MCP, OpenAPI) notes each call
in the calling node's `node.finished` notes (`tool_calls`), which the app stores on the node's span.

A node hands its context to the tool through the LangChain config (`tool_config(ctx)`); a tool
invoked without it (a test, a model's own tool loop that passes no config) still works, untraced.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from flows.registry import CONTEXT_KEY, NodeContext

MAX_NOTED_CALLS = 50


def tool_config(ctx: NodeContext) -> RunnableConfig:
    return {"configurable": {CONTEXT_KEY: ctx}}


def note_call(config: RunnableConfig | None, entry: dict[str, Any]) -> None:
    ctx = ((config or {}).get("configurable") or {}).get(CONTEXT_KEY)
    if not isinstance(ctx, NodeContext):
        return
    calls = ctx.notes.setdefault("tool_calls", [])
    if isinstance(calls, list) and len(calls) < MAX_NOTED_CALLS:
        calls.append(entry)
