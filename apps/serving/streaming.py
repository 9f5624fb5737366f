"""A lean LangChain chat model for the OpenAI chat-completions protocol (docs/adr/0005).

`langchain_openai.ChatOpenAI` turns every streamed chunk into an OpenAI SDK object first
(`construct_type`, ~0.5 ms a chunk here) and then into a LangChain chunk; under hundreds of
concurrent streams on two cores that per-token cost was the ceiling. This model speaks the same
protocol with one shared httpx client and `json.loads` per server-sent event, and is otherwise an
ordinary `BaseChatModel`: `astream`, `ainvoke`, `bind_tools`, callbacks and usage metadata work
as LangChain documents them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import httpx
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import ToolCallChunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, SecretStr

from flows.errors import ModelUnavailable

ERROR_DETAIL_LIMIT = 200
DATA = "data:"


class OpenAIStreamingChat(BaseChatModel):
    """Chat completions over server-sent events; every call streams (usage included)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    alias: str
    base_url: str
    model_name: str
    api_key: SecretStr = Field(repr=False)
    temperature: float = 0.7
    max_tokens: int = 512
    timeout: httpx.Timeout
    async_client: httpx.AsyncClient | None = Field(default=None, exclude=True, repr=False)
    sync_client: httpx.Client | None = Field(default=None, exclude=True, repr=False)

    @property
    def _llm_type(self) -> str:
        return "openai-protocol"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "base_url": self.base_url, "temperature": self.temperature}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    # --- the request ---

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key.get_secret_value()}", "Accept": "text/event-stream"}

    def _payload(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model_name,
            "messages": convert_to_openai_messages(messages),
            "temperature": self.temperature,
            "max_completion_tokens": self.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if stop:
            payload["stop"] = stop
        if kwargs.get("tools"):
            payload["tools"] = kwargs["tools"]
            if kwargs.get("tool_choice") is not None:
                payload["tool_choice"] = kwargs["tool_choice"]
        return payload

    def _refusal(self, status: int, body: bytes) -> ModelUnavailable:
        detail = ""
        try:
            error = json.loads(body or b"{}")
            error = error.get("error", error) if isinstance(error, dict) else error
            detail = str(error.get("message", "")) if isinstance(error, dict) else str(error)
        except ValueError:
            detail = body.decode("utf-8", "replace")
        suffix = f": {detail[:ERROR_DETAIL_LIMIT]}" if detail else "."
        return ModelUnavailable(f"The server of model {self.alias!r} answered HTTP {status}{suffix}")

    # --- streaming ---

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        client = self.async_client
        owned = client is None
        if client is None:
            client = httpx.AsyncClient()
        try:
            request = client.build_request(
                "POST",
                self.url,
                json=self._payload(messages, stop, kwargs),
                headers=self._headers(),
                timeout=self.timeout,
            )
            response = await client.send(request, stream=True)
            try:
                if response.status_code >= 400:
                    raise self._refusal(response.status_code, await response.aread())
                done = False
                # Read to the end of the body even after [DONE]: a response closed half-read closes
                # its connection too, and the next call would pay for a new one.
                async for line in response.aiter_lines():
                    if done:
                        continue
                    chunk = _parse_line(line)
                    if chunk is _DONE:
                        done = True
                    elif chunk is not None:
                        yield chunk
            finally:
                await response.aclose()
        finally:
            if owned:
                await client.aclose()

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        client = self.sync_client or httpx.Client()
        try:
            with client.stream(
                "POST",
                self.url,
                json=self._payload(messages, stop, kwargs),
                headers=self._headers(),
                timeout=self.timeout,
            ) as response:
                if response.status_code >= 400:
                    raise self._refusal(response.status_code, response.read())
                done = False
                for line in response.iter_lines():
                    if done:
                        continue
                    chunk = _parse_line(line)
                    if chunk is _DONE:
                        done = True
                    elif chunk is not None:
                        yield chunk
        finally:
            if self.sync_client is None:
                client.close()

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))


_DONE = ChatGenerationChunk(message=AIMessageChunk(content=""))


def _parse_line(line: str) -> ChatGenerationChunk | None:
    """One server-sent-event line -> a chunk, _DONE at the end, None for anything to skip."""
    if not line.startswith(DATA):
        return None  # blank separators, comments, `event:` lines
    data = line[len(DATA) :].strip()
    if data == "[DONE]":
        return _DONE
    try:
        event = json.loads(data)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    if "error" in event and not event.get("choices"):
        error = event["error"]
        message = error.get("message", "") if isinstance(error, dict) else str(error)
        raise ModelUnavailable(f"The model server reported an error mid-stream: {str(message)[:ERROR_DETAIL_LIMIT]}")
    choices = event.get("choices") or []
    usage = event.get("usage")
    if not choices:
        if not usage:
            return None
        return ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=_usage(usage)))
    choice = choices[0]
    delta = choice.get("delta") or {}
    content = delta.get("content") or ""
    tool_calls = delta.get("tool_calls")
    finish = choice.get("finish_reason")
    if not content and not tool_calls and not usage and not finish:
        return None  # the role-only opening chunk
    message = AIMessageChunk(
        content=content,
        tool_call_chunks=_tool_call_chunks(tool_calls) if tool_calls else [],
        usage_metadata=_usage(usage) if usage else None,
        response_metadata={"finish_reason": finish} if finish else {},
    )
    return ChatGenerationChunk(message=message)


def _usage(usage: dict[str, Any]) -> UsageMetadata:
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return UsageMetadata(
        input_tokens=prompt,
        output_tokens=completion,
        total_tokens=int(usage.get("total_tokens") or prompt + completion),
    )


def _tool_call_chunks(tool_calls: list[dict[str, Any]]) -> list[ToolCallChunk]:
    chunks: list[ToolCallChunk] = []
    for call in tool_calls:
        function = call.get("function") or {}
        chunks.append(
            ToolCallChunk(
                name=function.get("name"), args=function.get("arguments"), id=call.get("id"), index=call.get("index")
            )
        )
    return chunks
