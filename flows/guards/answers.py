"""A policy's output checks on every model answer of a run, without a guard node in the flow.

`GuardedChatModels` wraps the run's chat models: each answer is collected whole, checked
(personal data, a leaked system prompt, links, JSON schema, content, moderation) and only then
handed on, redacted or replaced by the block message where the policy says. What is streamed,
shown and stored is therefore the checked text; the price is that a guarded answer arrives at
once instead of token by token. While the answer is being collected, empty chunks keep the LLM
node's idle timer fed. A round that calls tools is passed through unchecked (it is not an answer).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict

from flows.guards.policy import Hit
from flows.ports import CachePolicy, ChatModels
from flows.values import TextChunk

# text -> (the text to hand on, the hits): called in a worker thread (a moderation model may be
# asked); the hits go to `record` back on the event loop.
CheckAnswer = Callable[[str], tuple[str, list[Hit]]]
RecordHits = Callable[[list[Hit]], None]


class GuardedChatModels:
    """flows.ports.ChatModels whose models' answers pass the policy's output checks."""

    def __init__(self, inner: ChatModels, check: CheckAnswer, record: RecordHits) -> None:
        self.inner, self.check, self.record = inner, check, record

    def chat_model(
        self, alias: str, *, temperature: float, max_tokens: int, cache: CachePolicy | None = None
    ) -> BaseChatModel:
        cached = {"cache": cache} if cache is not None else {}
        model = self.inner.chat_model(alias, temperature=temperature, max_tokens=max_tokens, **cached)
        return GuardedChatModel(inner=model, check=self.check, record=self.record)

    def __getattr__(self, name: str) -> Any:  # the gateway's other helpers (prices, meter)
        return getattr(self.inner, name)


def _without_text(chunk: AIMessageChunk) -> AIMessageChunk:
    return AIMessageChunk(
        content="",
        tool_call_chunks=chunk.tool_call_chunks,
        usage_metadata=chunk.usage_metadata,
        response_metadata=chunk.response_metadata,
        id=chunk.id,
    )


class GuardedChatModel(BaseChatModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: BaseChatModel
    check: CheckAnswer
    record: RecordHits

    @property
    def _llm_type(self) -> str:
        return "trellis-guarded"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)

    async def _checked(self, text: str) -> str:
        shown, hits = await asyncio.to_thread(self.check, text)
        if hits:
            self.record(hits)
        return shown

    async def astream_chunks(
        self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk | TextChunk]:
        direct = getattr(self.inner, "astream_chunks", None)
        source: AsyncGenerator[Any, None] = (
            direct(messages, stop=stop, **kwargs) if direct is not None else self._inner_astream(messages, stop)
        )
        texts: list[str] = []
        extras: list[AIMessageChunk] = []
        calls_tools = False
        async with contextlib.aclosing(source) as stream:
            async for chunk in stream:
                content = chunk.content
                if isinstance(content, str):
                    texts.append(content)
                if isinstance(chunk, AIMessageChunk):
                    calls_tools = calls_tools or bool(chunk.tool_call_chunks)
                    if chunk.tool_call_chunks or chunk.usage_metadata or not isinstance(content, str):
                        extras.append(_without_text(chunk) if isinstance(content, str) else chunk)
                yield TextChunk("", pieces=0)  # nothing shown; the idle timer sees the model is alive
        text = "".join(texts)
        if text:
            yield TextChunk(text if calls_tools else await self._checked(text))
        for extra in extras:
            yield extra

    async def _inner_astream(self, messages: list[BaseMessage], stop: list[str] | None) -> AsyncGenerator[Any, None]:
        async for chunk in self.inner.astream(messages, stop=stop):
            yield chunk

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = await self.inner.ainvoke(messages, stop=stop, **kwargs)
        tool_calls = list(getattr(reply, "tool_calls", None) or [])
        text = str(reply.content)
        if text and not tool_calls:
            text = await self._checked(text)
        usage = getattr(reply, "usage_metadata", None)
        message = AIMessage(content=text, tool_calls=tool_calls, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise NotImplementedError("Guarded models are async: use ainvoke/astream.")
