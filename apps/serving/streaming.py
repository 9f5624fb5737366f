"""A lean LangChain chat model for the OpenAI chat-completions protocol (docs/adr/0005).

`langchain_openai.ChatOpenAI` turns every streamed chunk into an OpenAI SDK object first
(`construct_type`, ~0.5 ms a chunk here) and then into a LangChain chunk; under hundreds of
concurrent streams on two cores that per-token cost was the ceiling. This model speaks the same
protocol and is otherwise an ordinary `BaseChatModel`: `astream`, `ainvoke`, `bind_tools`,
callbacks and usage metadata work as LangChain documents them.

The async path runs on this event loop's `apps.serving.httpstream.HttpPool` (a lean HTTP/1.1
client: C parser, keep-alive connections per origin, one timer per call for the read timeout;
httpx's pool had scanned every open connection per request and release, aiohttp's reader cost
~19% of a worker at 500 streams) and parses each event with orjson. `astream_chunks` yields the
chunks themselves, plain text as flows.values.TextChunk (no pydantic validation per token); the
gateway's router and the LLM node read it directly. The sync path (rare: sync callers only) stays
on httpx.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, ClassVar

import httpx
import orjson
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
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr

from apps.serving.egress import EgressPolicy
from apps.serving.httpstream import HeaderError, HttpPool, StreamResponse
from flows.errors import FlowError, ModelUnavailable, model_refusal
from flows.values import TextChunk

ERROR_DETAIL_LIMIT = 200
DATA = "data:"
MAX_EVENT_BYTES = 16 * 2**20  # one server-sent event larger than this ends the call


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
    async_client: HttpPool | None = Field(default=None, exclude=True, repr=False)
    sync_client: httpx.Client | None = Field(default=None, exclude=True, repr=False)
    # The outbound policy every connection is vetted by; None only for the instance's own model
    # servers (the builtin `local` endpoint, managed deployments): apps.serving.egress.
    egress: EgressPolicy | None = Field(default=None, exclude=True, repr=False)
    _headers_cache: dict[str, str] | None = PrivateAttr(default=None)
    # `astream_chunks(..., on_text=)` relays plain text past the reader (TextRelay).
    relays_text: ClassVar[bool] = True

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
        if self._headers_cache is None:
            self._headers_cache = {
                "Authorization": f"Bearer {self.api_key.get_secret_value()}",
                "Accept": "text/event-stream",
                "Content-Type": "application/json",
                "User-Agent": "trellis",
            }
        return self._headers_cache

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
        if kwargs.get("response_format"):  # JSON mode (the structured-output node)
            payload["response_format"] = kwargs["response_format"]
        if kwargs.get("tools"):
            payload["tools"] = kwargs["tools"]
            if kwargs.get("tool_choice") is not None:
                payload["tool_choice"] = kwargs["tool_choice"]
        return payload

    def _refusal(self, status: int, body: bytes) -> FlowError:
        detail, code = "", None
        try:
            error = json.loads(body or b"{}")
            error = error.get("error", error) if isinstance(error, dict) else error
            detail = str(error.get("message", "")) if isinstance(error, dict) else str(error)
            code = str(error.get("code")) if isinstance(error, dict) and error.get("code") else None
        except ValueError:
            detail = body.decode("utf-8", "replace")
        return model_refusal(self.alias, status, detail, code)  # a context-window refusal included

    # --- streaming ---

    async def astream_chunks(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        *,
        on_text: Callable[[str, int], None] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk | TextChunk]:
        """The answer's chunks as they arrive (what `_astream` wraps for LangChain).

        `on_text(text, pieces)`: after the first token, plain text that arrives while this
        generator waits may go to `on_text` instead (TextRelay), in order with the chunks it
        yields; the caller handles it as it would a TextChunk of `pieces` pieces. It must not
        block; what it raises, this generator raises."""
        pool = self.async_client
        owned = pool is None
        if pool is None:
            pool = HttpPool()
        t = self.timeout
        try:
            try:
                response = await pool.post(
                    self.url,
                    orjson.dumps(self._payload(messages, stop, kwargs)),
                    self._headers(),
                    connect_timeout=(t.connect or 0) + (t.pool or 0) or None,
                    read_timeout=t.read,
                    egress=self.egress,
                )
            except HeaderError:
                raise ModelUnavailable(f"The API key of model {self.alias!r} holds a line break.") from None
            async with response:
                if response.status >= 400:
                    raise self._refusal(response.status, await response.read())
                done = paced = False
                buffer = b""
                lines = SseLines()
                relay = _RelaySlot(on_text) if on_text is not None else None
                # Read to the end of the body even after [DONE]: a response closed half-read
                # closes its connection, and the next call would pay for a new one.
                while (data := response.take()) is not None:
                    if not data:
                        if relay is not None and paced:
                            relay.offer(response, lines, half_read=bool(buffer) or done)
                        await response.arrival()
                        continue
                    if done:
                        continue
                    if buffer:
                        data, buffer = buffer + data, b""
                    end = data.rfind(b"\n") + 1
                    if not end:
                        if len(data) > MAX_EVENT_BYTES:
                            raise ModelUnavailable(f"The model server sent an event over {MAX_EVENT_BYTES} bytes.")
                        buffer = data
                        continue
                    if end < len(data):  # a line cut by the read: the rest comes with the next one
                        data, buffer = data[:end], data[end:]
                    parsed, error = lines.parse(data.split(b"\n"))
                    for message in parsed:
                        if message is _DONE:
                            done = True
                            break
                        if not paced and message.content:  # the first token went at once; pace the rest
                            paced = True
                            response.pace()
                        yield message
                    if error is not None:
                        raise error
        finally:
            if owned:
                pool.close()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        stream = self.astream_chunks(messages, stop, **kwargs)
        try:
            async for chunk in stream:
                yield ChatGenerationChunk(message=as_message_chunk(chunk))
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if self.egress is not None:  # the rare sync path: vetted the same way, then pinned
            yield from self._stream_vetted(self.egress, messages, stop, **kwargs)
            return
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
                    message = _parse_line(line.encode())
                    if message is _DONE:
                        done = True
                    elif message is not None:
                        yield ChatGenerationChunk(message=as_message_chunk(message))
        finally:
            if self.sync_client is None:
                client.close()

    def _stream_vetted(
        self, egress: EgressPolicy, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        """The sync stream through the egress policy: one vetted address, the name kept for the
        Host header and TLS, no redirects (httpx follows none unless asked)."""
        url = httpx.URL(self.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        address = egress.resolve_sync(url.host, port)
        pinned = url.copy_with(host=address)
        headers = {**self._headers(), "Host": url.netloc.decode("ascii")}
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        client = self.sync_client or httpx.Client()
        try:
            request = client.build_request(
                "POST",
                pinned,
                json=self._payload(messages, stop, kwargs),
                headers=headers,
                timeout=self.timeout,
                extensions=extensions,
            )
            response = client.send(request, stream=True)
            try:
                if response.status_code >= 400:
                    raise self._refusal(response.status_code, response.read())
                done = False
                for line in response.iter_lines():
                    message = None if done else _parse_line(line.encode())
                    if message is _DONE:
                        done = True
                    elif message is not None:
                        yield ChatGenerationChunk(message=as_message_chunk(message))
            finally:
                response.close()
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


_DONE = AIMessageChunk(content="")
_DATA = DATA.encode()


_UNSAFE = re.compile(rb'["\\\x00-\x1f]')  # what a JSON string's body holds only as an escape (or never)
_CONTENT_KEY = re.compile(rb'"content": ?"')
_PROBE = b"zq"
LEARN_TRIES = 3  # text lines a stream tries to learn its template from


_CHUNK_HEAD = re.compile(rb"([0-9a-fA-F]{1,8})\r\n")


class TextRelay:
    """A stream's plain text from the socket read straight to the caller's `on_text`, past the
    reader (docs/adr/0005, wave 3 session 15).

    Per token event the reader's way is long: the read wakes the reader's task, which resumes
    the chain of generators (the model client's, the gateway's route, the LLM node's), each
    looking at a TextChunk, before the node emits the event. Under load that was a large part of a
    streamed token's cost (the upper bound measured in session 14). While the reader waits with
    nothing half-read, the connection offers each read's raw bytes here first (the HTTP parser
    stays where it was, between two chunks). When they are whole chunks, each holding whole
    lines that match the stream's template (SseLines: the bytes before and after the text of
    its first text line), the text is decoded and handed to `on_text` at once, as one piece,
    in the run task's context; nothing else happens to those bytes. Anything else (a chunk cut
    by the read, an escape in the text, a finish reason, usage, tool calls, [DONE], the body's
    end, an error, a chunk extension) is declined whole and goes to the parser and the reader as
    before; so is everything once the run's task is being cancelled. The text is the same as
    SseLines would make of those lines, and order holds: the relay acts only while nothing is
    buffered for the reader, and once it declines, everything waits for the reader until it has
    taken what it was given. What `on_text` raises ends the relay: the reader is woken and raises
    it."""

    __slots__ = ("context", "ending", "error", "on_text", "prefix", "task", "wake")

    def __init__(
        self, prefix: bytes, suffix: bytes, on_text: Callable[[str, int], None], wake: Callable[[], None]
    ) -> None:
        # The template, matched with bytes methods: a pattern compiled per stream (its id is in the
        # prefix) cost each run start ~0.3 ms of parsing a regular expression.
        if not _UNSAFE.match(suffix):
            raise ValueError("a template's suffix starts with the closing quote of its text")
        self.prefix, self.ending = prefix, suffix + b"\n\n"
        self.on_text = on_text
        self.wake = wake
        self.task = asyncio.current_task()
        self.context = contextvars.copy_context()
        self.error: BaseException | None = None

    def feed(self, data: bytes) -> bool:
        """Handle `data` whole (True) or not at all (False)."""
        task = self.task
        if self.error is not None or task is None or task.done() or task.cancelling():
            return False
        pieces: list[bytes] = []
        head, prefix, ending, unsafe = _CHUNK_HEAD.match, self.prefix, self.ending, _UNSAFE.search
        skip, tail = len(prefix), len(ending)
        pos, end = 0, len(data)
        while pos < end:
            found = head(data, pos)
            if found is None:
                return False
            start = found.end()
            stop = start + int(found.group(1), 16)
            if stop == start or stop + 2 > end or data[stop : stop + 2] != b"\r\n":
                return False  # the last chunk, or one cut by the read
            while start < stop:
                # One template line: the prefix, text with nothing in _UNSAFE, then the suffix and
                # "\n\n". The suffix starts with the string's closing quote (checked in __init__),
                # so the text ends at the first byte in _UNSAFE.
                if not data.startswith(prefix, start, stop):
                    return False
                body = start + skip
                found = unsafe(data, body, stop)
                if found is None:
                    return False
                close = found.start()
                if not data.startswith(ending, close, stop):
                    return False
                if close > body:  # (empty text: skipped, as SseLines does)
                    pieces.append(data[body:close])
                start = close + tail
            pos = stop + 2
        if not pieces:
            return False
        raw = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        try:
            # Each line's text is UTF-8 on its own (as SseLines decodes it), not only their join.
            text = raw.decode() if len(pieces) == 1 or raw.isascii() else "".join(p.decode() for p in pieces)
        except UnicodeDecodeError:
            return False
        try:
            self.context.run(self.on_text, text, len(pieces))
        except BaseException as exc:  # handed to the reader, which raises it
            self.error = exc
            self.wake()
        return True


class _RelaySlot:
    """A reader's TextRelay, made once its stream's template is known, offered each time the
    reader waits (only with nothing half-read: a relayed read starts at a line)."""

    __slots__ = ("on_text", "relay")

    def __init__(self, on_text: Callable[[str, int], None]) -> None:
        self.on_text: Callable[[str, int], None] | None = on_text
        self.relay: TextRelay | None = None

    def offer(self, response: StreamResponse, lines: SseLines, *, half_read: bool) -> None:
        relay = self.relay
        if relay is None:
            if self.on_text is None or lines.prefix is None:
                return
            relay = self.relay = TextRelay(lines.prefix, lines.suffix, self.on_text, response.connection._wake)
        if relay.error is not None:
            raise relay.error
        if half_read:
            response.relay(None)
        elif not response.relay(relay.feed):
            self.relay = self.on_text = None  # this answer cannot be relayed


class SseLines:
    """A stream's server-sent-event lines -> its messages, consecutive plain text joined into one
    TextChunk, and the model's error event if one came (after the messages before it: those go
    out first).

    Tokens arrive together only when the process fell behind the model (under load) or the pacer
    held the socket: one event for them then costs the rest of the way (event, trace, socket
    frame) once instead of per token. A list, not a generator: this runs once per read, and a
    generator was one more frame built, stepped and torn down per streamed token (issue 15).

    The common line, a text delta, takes no JSON parse (issue 15: one orjson parse and its dict
    look-ups per line were a tenth of a loaded worker). The first text line a stream sends is
    parsed and becomes the stream's template: the bytes before its text and those after it
    (a server repeats a stream's id, model and timestamp: vLLM, Ollama and the stand-in do; a
    template is kept only when a probe with other text in its place parses to exactly that text).
    A later line that is the template's prefix, then bytes that hold no quote, backslash or control
    character, then its suffix, tokenizes exactly as the template does, so its text is those bytes,
    decoded as UTF-8. Every other line (an escape in the text, a finish reason, usage, tool calls,
    an error, [DONE], a server whose lines differ in more than the text) is parsed with orjson."""

    __slots__ = ("prefix", "suffix", "tries")

    def __init__(self) -> None:
        self.prefix: bytes | None = None
        self.suffix = b""
        self.tries = LEARN_TRIES

    def parse(self, lines: list[bytes]) -> tuple[list[AIMessageChunk | TextChunk], FlowError | None]:
        out: list[AIMessageChunk | TextChunk] = []
        text: TextChunk | None = None
        prefix, suffix = self.prefix, self.suffix
        start, tail = len(prefix or b""), len(suffix)
        for line in lines:
            if not line:
                continue  # the blank line after each event
            if (
                prefix is not None
                and line.startswith(prefix)
                and line.endswith(suffix)
                and len(line) >= start + tail
                and _UNSAFE.search(line, start, len(line) - tail) is None
            ):
                try:
                    content = line[start : len(line) - tail].decode()
                except UnicodeDecodeError:
                    pass  # not UTF-8: orjson refuses the line below
                else:
                    if content:  # (empty: what the line parser skips too)
                        if text is None:
                            text = TextChunk(content)
                            out.append(text)
                        else:
                            text.content += content
                            text.pieces += 1
                    continue
            try:
                message = _parse_line(line)
            except FlowError as error:
                return out, error
            if message is None:
                continue
            if type(message) is TextChunk:
                if prefix is None and self.tries:
                    self._learn(line, message.content)
                    prefix, suffix = self.prefix, self.suffix
                    start, tail = len(prefix or b""), len(suffix)
                if text is None:
                    text = message
                    out.append(text)
                else:
                    text.content += message.content
                    text.pieces += 1
                continue
            text = None
            out.append(message)
            if message is _DONE:
                break  # nothing after the end is read
        return out, None

    def _learn(self, line: bytes, content: str) -> None:
        self.tries -= 1
        body = content.encode()
        keys = list(_CONTENT_KEY.finditer(line))
        if _UNSAFE.search(body) is not None or len(keys) != 1:
            return
        key = keys[0]
        begin, end = key.end(), key.end() + len(body)
        if line[begin:end] != body or line[end : end + 1] != b'"':
            return
        prefix, suffix = line[:begin], line[end:]
        try:
            probe = _parse_line(prefix + _PROBE + suffix)
        except FlowError:
            return
        if type(probe) is TextChunk and probe.content == _PROBE.decode():
            self.prefix, self.suffix = prefix, suffix


def _parsed(lines: list[bytes]) -> tuple[list[AIMessageChunk | TextChunk], FlowError | None]:
    """The messages of lines read together, parsed each on its own (`SseLines` without a template)."""
    reader = SseLines()
    reader.tries = 0
    return reader.parse(lines)


def as_message_chunk(chunk: AIMessageChunk | TextChunk) -> AIMessageChunk:
    """LangChain's own chunk type, for callers of the standard interfaces."""
    return chunk if isinstance(chunk, AIMessageChunk) else AIMessageChunk(content=chunk.content)


def _parse_line(line: bytes) -> AIMessageChunk | TextChunk | None:
    """One server-sent-event line -> a message chunk, _DONE at the end, None for anything to skip."""
    if not line.startswith(_DATA):
        return None  # blank separators, comments, `event:` lines
    data = line[len(_DATA) :].strip()
    if data == b"[DONE]":
        return _DONE
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict):
        return None
    if "error" in event and not event.get("choices"):
        error = event["error"]
        message = error.get("message", "") if isinstance(error, dict) else str(error)
        raise model_refusal("", None, str(message))
    choices = event.get("choices") or []
    usage = event.get("usage")
    if not choices:
        if not usage:
            return None
        return AIMessageChunk(content="", usage_metadata=_usage(usage))
    choice = choices[0]
    delta = choice.get("delta") or {}
    content = delta.get("content") or ""
    tool_calls = delta.get("tool_calls")
    finish = choice.get("finish_reason")
    if not content and not tool_calls and not usage and not finish:
        return None  # the role-only opening chunk
    if not tool_calls and not usage and not finish:
        return TextChunk(content)  # the common case: one token of text
    return AIMessageChunk(
        content=content,
        tool_call_chunks=_tool_call_chunks(tool_calls) if tool_calls else [],
        usage_metadata=_usage(usage) if usage else None,
        response_metadata={"finish_reason": finish} if finish else {},
    )


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
