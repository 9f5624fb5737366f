"""A chat model that plays a script of turns: each call answers with the next turn (text, or tool
calls), streamed word by word with usage on the last chunk; it records what it was sent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult

Turn = str | list[tuple[str, dict[str, Any]]]  # text, or tool calls (name, arguments)


class TurnModel(BaseChatModel):
    turns: list[Turn] = []
    repeat_last: bool = True
    native_tools: bool = True
    tokens_per_turn: int = 10
    on_call: Callable[[list[BaseMessage]], None] | None = None
    calls: list[list[BaseMessage]] = []
    bound: list[list[str]] = []
    bound_kwargs: list[dict[str, Any]] = []

    @property
    def _llm_type(self) -> str:
        return "turns"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        if not self.native_tools:
            raise NotImplementedError
        self.bound.append([t.name for t in tools])
        return self.bind(tools=[t.name for t in tools], **kwargs)

    def _turn(self, messages: list[BaseMessage]) -> Turn:
        self.calls.append(messages)
        if self.on_call is not None:
            self.on_call(messages)
        index = len(self.calls) - 1
        if index >= len(self.turns):
            if not self.repeat_last:
                raise AssertionError("the script ran out of turns")
            index = len(self.turns) - 1
        return self.turns[index]

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise NotImplementedError

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        self.bound_kwargs.append({k: v for k, v in kwargs.items() if k != "tools"})
        turn = self._turn(messages)
        if isinstance(turn, list):
            chunks = [
                tool_call_chunk(name=name, args=json.dumps(args), id=f"call-{len(self.calls)}-{i}", index=i)
                for i, (name, args) in enumerate(turn)
            ]
            yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=chunks))
        else:
            for i, word in enumerate(turn.split(" ")):
                yield ChatGenerationChunk(message=AIMessageChunk(content=word if i == 0 else " " + word))
        half = self.tokens_per_turn // 2
        usage = UsageMetadata(input_tokens=half, output_tokens=half, total_tokens=2 * half)
        yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage))
