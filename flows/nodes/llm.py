from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable
from typing import Any, Literal

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableBinding
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field

from flows.context import REFIT_KEY, Compose, fit_context
from flows.errors import ModelTimeout, NodeFailed
from flows.ports import FLOW_CACHE_KEY, CachePolicy, Ports
from flows.registry import NodeContext, NodeType, Port, register
from flows.tools import resolve_tool
from flows.types import PortType
from flows.values import to_documents, to_messages

DEFAULT_FIRST_TOKEN_TIMEOUT = 60.0
DEFAULT_IDLE_TIMEOUT = 30.0


class _Watchdog:
    """Ends an `asyncio.timeout` block when the first chunk has not come within `first` seconds,
    or the next within `idle`. A chunk costs one clock read (`touch`); the timer fires at most
    once per limit and re-arms itself when something came meanwhile (moving the deadline at
    every token made and cancelled a timer handle per token)."""

    def __init__(self, deadline: asyncio.Timeout, first: float, idle: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.deadline = deadline
        self.limit, self.idle, self.started = first, idle, False
        self.last = self.loop.time()
        self.handle: asyncio.TimerHandle | None = self.loop.call_at(self.last + first, self._check)

    @property
    def waiting_for(self) -> str:
        return "the next token" if self.started else "the first token"

    def touch(self) -> None:
        self.last = self.loop.time()
        if not self.started:  # the first chunk came: from now on the idle limit
            self.started, self.limit = True, self.idle
            self.stop()
            self.handle = self.loop.call_at(self.last + self.idle, self._check)

    def _check(self) -> None:
        due = self.last + self.limit
        if self.loop.time() >= due:
            self.handle = None
            self.deadline.reschedule(self.loop.time())  # the block's task is cancelled -> TimeoutError
        else:
            self.handle = self.loop.call_at(due, self._check)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class LlmConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(
        min_length=1,
        max_length=100,
        json_schema_extra={"format": "model-alias"},
        description="Model alias (Models page)",
    )
    system_prompt: str = Field(default="", max_length=50_000, json_schema_extra={"format": "prompt"})
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=512, ge=1, le=32_768)
    streaming: bool = True
    tools: list[str] = Field(default_factory=list, max_length=16, description="Tools the model may call")
    max_tool_rounds: int = Field(default=3, ge=1, le=8)
    cache: Literal["inherit", "off", "exact", "semantic"] = Field(
        default="inherit",
        title="Response cache",
        description="Response cache: inherit (the flow's setting, else the model's), off, exact "
        "(the same prompt and parameters) or semantic (also a similar enough single question)",
    )
    cache_ttl_s: int | None = Field(
        default=None,
        ge=1,
        le=30 * 86_400,
        title="Cache TTL (seconds)",
        description="How long a cached answer is kept (empty: the flow's, else the model's, else 3600)",
    )
    cache_threshold: float | None = Field(
        default=None,
        ge=0.5,
        le=1,
        title="Cache similarity threshold",
        description="Semantic cache: how similar a question must be, 0.5-1 (empty: the flow's, else 0.9)",
    )
    cache_any_temperature: bool = Field(
        default=False,
        title="Cache at any temperature",
        description="Also cache answers at a temperature above 0 (they vary otherwise)",
    )


def cache_policy(config: LlmConfig, ports: Ports) -> CachePolicy | None:
    """The node's response-cache policy: its own fields over the flow's default; None when
    neither says (the model endpoint's own setting applies)."""
    flow = ports.settings.get(FLOW_CACHE_KEY) or {}
    mode = config.cache if config.cache != "inherit" else flow.get("mode")
    if mode is None:
        return None
    ttl, threshold = config.cache_ttl_s or flow.get("ttl_s"), config.cache_threshold or flow.get("threshold")
    return CachePolicy(
        mode=str(mode),
        ttl_s=float(ttl) if ttl else None,
        threshold=float(threshold) if threshold else None,
        any_temperature=config.cache_any_temperature or bool(flow.get("any_temperature")),
    )


def _context_block(documents: list[Document]) -> str:
    lines = ["Answer from these sources. Cite them as [n] where you use them."]
    lines += [f"[{i}] {doc.page_content}" for i, doc in enumerate(documents, start=1)]
    return "\n".join(lines)


def _history(inputs: dict[str, Any]) -> list[BaseMessage]:
    if "history" not in inputs:
        return []
    return [m for m in to_messages(inputs["history"]) if not isinstance(m, SystemMessage)]


def _composer(config: LlmConfig, inputs: dict[str, Any]) -> Compose:
    """The messages for given documents and history (the rest is fixed): what the context fit
    recomposes while it trims."""
    prompt = to_messages(inputs["prompt"])
    system_parts = [config.system_prompt] if config.system_prompt else []
    system_parts += [str(m.content) for m in prompt if isinstance(m, SystemMessage)]
    turn = [m for m in prompt if not isinstance(m, SystemMessage)]

    def compose(documents: list[Document], history: list[BaseMessage]) -> list[BaseMessage]:
        parts = [*system_parts, _context_block(documents)] if documents else system_parts
        messages: list[BaseMessage] = [SystemMessage(content="\n\n".join(parts))] if parts else []
        return messages + history + turn

    return compose


def _fitted(
    config: LlmConfig, inputs: dict[str, Any], documents: list[Document], ports: Ports, ctx: NodeContext
) -> tuple[list[BaseMessage], list[Document]]:
    """The messages (and the documents they cite) trimmed to the model's context window when it
    is known; the trace's `context` note says what was left out."""
    compose, history = _composer(config, inputs), _history(inputs)
    window = ports.context.context_window(config.model) if ports.context is not None else None
    if ports.context is None or not window:
        return compose(documents, history), documents
    carried = (m.additional_kwargs.get(REFIT_KEY) for m in to_messages(inputs["prompt"]))
    refit = next((found for found in carried if found is not None), None)
    if not documents and refit is not None:
        # The documents are inside the prompt (a template variable): trim them there.
        documents, rerender = refit

        def compose(kept: list[Document], hist: list[BaseMessage]) -> list[BaseMessage]:
            return _composer(config, {**inputs, "prompt": rerender(kept)})([], hist)

    fit = fit_context(
        compose=compose,
        documents=documents,
        history=history,
        counter=ports.context.token_counter(config.model),
        window=window,
        max_tokens=config.max_tokens,
        alias=config.model,
    )
    if fit.trimmed:
        ctx.note("context", fit.note())
    return fit.messages, fit.documents


def _without_text(chunk: AIMessageChunk) -> AIMessageChunk:
    return AIMessageChunk(
        content="",
        tool_call_chunks=chunk.tool_call_chunks,
        usage_metadata=chunk.usage_metadata,
        id=chunk.id,
    )


def _stream(
    runnable: Any, messages: list[BaseMessage], on_text: Callable[[str, int], None]
) -> AsyncGenerator[Any, None]:
    """The model's chunks: through `astream_chunks` when the model has it (plain text as
    TextChunk, no message object per token), else LangChain's `astream`. A model that
    `relays_text` may hand plain text to `on_text` instead of yielding it (the gateway and the
    OpenAI-protocol client: apps.serving.streaming.TextRelay), in order with what it yields."""
    model, kwargs = (runnable.bound, runnable.kwargs) if isinstance(runnable, RunnableBinding) else (runnable, {})
    direct = getattr(model, "astream_chunks", None)
    if direct is not None:
        if getattr(model, "relays_text", False):
            return direct(messages, on_text=on_text, **kwargs)  # type: ignore[no-any-return]
        return direct(messages, **kwargs)  # type: ignore[no-any-return]
    return runnable.astream(messages)  # type: ignore[no-any-return]


def _timeouts(ports: Ports, alias: str) -> tuple[float, float]:
    per_alias = ports.settings.get("timeouts", {}).get(alias)
    if per_alias is not None:
        return float(per_alias[0]), float(per_alias[1])
    return (
        float(ports.settings.get("first_token_timeout", DEFAULT_FIRST_TOKEN_TIMEOUT)),
        float(ports.settings.get("idle_timeout", DEFAULT_IDLE_TIMEOUT)),
    )


@register
class LlmNode(NodeType[LlmConfig]):
    type, version = "llm", 1
    title = "LLM"
    description = "Calls a chat model by alias and streams its answer; can cite sources and call tools."
    category, icon = "model", "sparkles"
    config_model = LlmConfig
    inputs = {
        "prompt": Port(PortType.MESSAGES, description="The prompt (text or messages)"),
        "history": Port(PortType.MESSAGES, required=False, description="Earlier turns (memory)"),
        "context": Port(PortType.DOCUMENTS, required=False, description="Documents to answer from"),
    }
    outputs = {
        "text": Port(PortType.TEXT, description="The model's answer"),
        "sources": Port(PortType.DOCUMENTS, description="The documents it was given, for citations"),
    }

    async def run(self, config: LlmConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext) -> dict[str, Any]:
        messages, documents = _fitted(config, inputs, to_documents(inputs.get("context")), ports, ctx)
        policy = cache_policy(config, ports)
        cached = {"cache": policy} if policy is not None else {}  # ports without a cache take none
        model = ports.models.chat_model(
            config.model, temperature=config.temperature, max_tokens=config.max_tokens, **cached
        )
        tools = [resolve_tool(name, ports) for name in config.tools]
        text = await self._converse(config, model, tools, messages, ports, ctx)
        return {"text": text, "sources": documents}

    async def _converse(
        self,
        config: LlmConfig,
        model: BaseChatModel,
        tools: list[BaseTool],
        messages: list[BaseMessage],
        ports: Ports,
        ctx: NodeContext,
    ) -> str:
        runnable: Any = model.bind_tools(tools) if tools else model
        by_name = {tool.name: tool for tool in tools}
        first, idle = _timeouts(ports, config.model)
        for _ in range(config.max_tool_rounds + 1):
            try:
                reply = await self._one_call(config, runnable, messages, ctx, first, idle)
            except Exception as exc:
                if ports.classify_model_error is None:
                    raise
                raise ports.classify_model_error(exc, config.model) from exc
            if not reply.tool_calls:
                return str(reply.content)
            messages = [*messages, reply]
            for call in reply.tool_calls:
                tool = by_name.get(call["name"])
                if tool is None:
                    result = f"Unknown tool {call['name']!r}."
                else:
                    try:
                        result = str(await tool.ainvoke(call["args"]))
                    except Exception as exc:  # a tool error goes back to the model, like a person would see it
                        result = f"Tool error: {exc}"
                messages.append(ToolMessage(content=result, tool_call_id=call["id"] or call["name"]))
        raise NodeFailed(f"The model kept calling tools after {config.max_tool_rounds} rounds.", code="tool_loop")

    async def _one_call(
        self,
        config: LlmConfig,
        runnable: Any,
        messages: list[BaseMessage],
        ctx: NodeContext,
        first: float,
        idle: float,
    ) -> AIMessageChunk:
        if not config.streaming:
            message = await asyncio.wait_for(runnable.ainvoke(messages), first)
            reply = AIMessageChunk(
                content=message.content,
                tool_calls=getattr(message, "tool_calls", []),
                usage_metadata=message.usage_metadata,
            )
            ctx.token(str(reply.content))
        else:
            texts: list[str] = []
            extras: list[AIMessageChunk] = []  # what chunks carry besides text: tool calls, usage
            try:
                async with asyncio.timeout(None) as deadline:
                    watch = _Watchdog(deadline, first, idle)

                    def on_text(content: str, pieces: int) -> None:  # relayed text: as a TextChunk below
                        ctx.token(content)
                        texts.append(content)
                        watch.touch()

                    try:
                        async with contextlib.aclosing(_stream(runnable, messages, on_text)) as stream:
                            async for chunk in stream:
                                content = chunk.content
                                if isinstance(content, str):
                                    if content:
                                        ctx.token(content)
                                        texts.append(content)
                                    if chunk.tool_call_chunks or chunk.usage_metadata:
                                        extras.append(_without_text(chunk))
                                        if chunk.response_metadata.get("cached"):  # the gateway's answer cache
                                            ctx.note("cached", chunk.response_metadata.get("cache") or True)
                                else:
                                    extras.append(chunk)
                                watch.touch()
                    finally:
                        watch.stop()
            except TimeoutError:
                raise ModelTimeout(
                    f"The model sent nothing for {watch.limit:g} s while waiting for {watch.waiting_for}."
                ) from None
            # Merging chunk by chunk builds a new message per token; the text is joined once instead.
            reply = AIMessageChunk(content="".join(texts))
            for extra in extras:
                reply = reply + extra
        usage: dict[str, Any] = dict(reply.usage_metadata or {})
        ctx.usage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)), config.model)
        return reply
