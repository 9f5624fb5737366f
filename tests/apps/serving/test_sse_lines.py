"""The text-delta fast path of the model stream's line reader (apps/serving/streaming.SseLines,
issue 15): a stream's later text lines are read against the template its first text line gave,
without a JSON parse. What it yields must be exactly what parsing every line with orjson yields,
for every chunk shape, read in any pieces; and the fast path must actually be taken for the
servers' common shapes (else the test says so)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage
from pydantic import SecretStr

from apps.serving.streaming import _DONE, OpenAIStreamingChat, SseLines, _parse_line
from flows.errors import FlowError
from flows.values import TextChunk

Dump = Callable[[Any], str]
STANDIN: Dump = json.dumps  # the stand-in's (and Python servers') separators, non-ASCII escaped
COMPACT: Dump = lambda value: json.dumps(value, separators=(",", ":"), ensure_ascii=False)  # noqa: E731  (vLLM, OpenAI)
DUMPS = {"standin": STANDIN, "compact": COMPACT}

TEXTS = [
    "The",
    " answer",
    " is",
    " ünïcödé",
    " 日本語",
    " 🙂 emoji",
    ' "quoted"',
    " back\\slash",
    " new\nline",
    " tab\there",
    "",
    " /slash",
    " \u2028sep",
    " end",
]


def _reference(lines: list[bytes]) -> tuple[list[tuple[Any, ...]], str | None]:
    """Every line parsed by orjson on its own (`_parse_line`), consecutive text joined: what the
    reader had done for every line before the fast path."""
    out: list[tuple[Any, ...]] = []
    for line in lines:
        if not line:
            continue
        try:
            message = _parse_line(line)
        except FlowError as error:
            return out, error.code
        if message is None:
            continue
        if type(message) is TextChunk:
            if out and out[-1][0] == "text":
                out[-1] = ("text", out[-1][1] + message.content, out[-1][2] + 1)
            else:
                out.append(("text", message.content, 1))
            continue
        out.append(_shape(message))
        if message is _DONE:
            break
    return out, None


def _shape(message: AIMessageChunk | TextChunk) -> tuple[Any, ...]:
    if type(message) is TextChunk:
        return ("text", message.content, message.pieces)
    assert isinstance(message, AIMessageChunk)
    return (
        "message",
        message.content,
        [dict(chunk) for chunk in message.tool_call_chunks],
        dict(message.usage_metadata or {}),
        dict(message.response_metadata),
    )


def _read(reader: SseLines, reads: list[bytes]) -> tuple[list[tuple[Any, ...]], str | None]:
    """What the stream's reader makes of the body arriving in `reads` (lines cut anywhere), as
    astream_chunks splits it: consecutive text joined across reads too."""
    out: list[tuple[Any, ...]] = []
    buffer = b""
    for read in reads:
        data = buffer + read
        end = data.rfind(b"\n") + 1
        block, buffer = data[:end], data[end:]
        if not block:
            continue
        messages, error = reader.parse(block.split(b"\n"))
        for message in messages:
            shape = _shape(message)
            if shape[0] == "text" and out and out[-1][0] == "text":
                out[-1] = ("text", out[-1][1] + shape[1], out[-1][2] + shape[2])
            else:
                out.append(shape)
            if message is _DONE:
                return out, None  # nothing after the end is read (astream_chunks drops it)
        if error is not None:
            return out, error.code
    return out, None


def _envelope(style: str, index: int) -> dict[str, Any]:
    base: dict[str, Any] = {"id": "chatcmpl-7f3a", "object": "chat.completion.chunk", "created": 1733400000}
    base["model"] = "standin-rate-30-n-300"
    if style == "openai":  # a field that differs on every line: no template can hold it
        base.update(service_tier="default", system_fingerprint="fp_1", obfuscation="x" * (index % 5 + 1))
    return base


def _text_line(dump: Dump, style: str, index: int, text: str | None, **choice: Any) -> bytes:
    delta: dict[str, Any] = {"content": text}
    event = {
        **_envelope(style, index),
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None, **choice}],
    }
    if style == "standin":
        event["usage"] = None
    return b"data: " + dump(event).encode()


def _body(dump: Dump, style: str, ending: list[bytes], texts: list[str | None] = TEXTS) -> list[bytes]:  # type: ignore[assignment]
    role = {**_envelope(style, 0), "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    lines = [b"data: " + dump(role).encode()]
    lines += [_text_line(dump, style, i, text) for i, text in enumerate(texts)]
    return lines + ending


def _endings(dump: Dump) -> dict[str, list[bytes]]:
    finish = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 14, "total_tokens": 19}}
    call = {
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "calc", "arguments": "{}"}}]},
            }
        ]
    }
    error = {"error": {"message": "The model is overloaded."}}
    line = lambda value: b"data: " + dump(value).encode()  # noqa: E731
    return {
        "finish+usage+done": [line(finish), line(usage), b"data: [DONE]"],
        "tool call": [line(call), line(finish), b"data: [DONE]"],
        "error": [line(error)],
        "comment and event lines": [b": keep-alive", b"event: message", line(finish), b"data: [DONE]"],
        "text after done": [b"data: [DONE]", line({"choices": [{"index": 0, "delta": {"content": "late"}}]})],
    }


def _wire(lines: list[bytes], newline: bytes = b"\n") -> bytes:
    return b"".join(line + newline + newline for line in lines)


def _cuts(body: bytes) -> list[list[bytes]]:
    """The body in one read, a line at a time, every 3 tokens, cut mid-line (an odd size), and
    cut inside a multi-byte character."""
    events = [event + b"\n\n" for event in body.split(b"\n\n") if event]
    ways = [[body], events]
    ways.append([b"".join(events[i : i + 3]) for i in range(0, len(events), 3)])
    ways.append([body[i : i + 97] for i in range(0, len(body), 97)])
    smile = body.find("🙂".encode())
    if smile > 0:
        ways.append([body[: smile + 2], body[smile + 2 :]])
    return ways


@pytest.mark.parametrize("dump_name", sorted(DUMPS))
@pytest.mark.parametrize("style", ["standin", "openai"])
@pytest.mark.parametrize("ending", sorted(_endings(STANDIN)))
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_the_reader_yields_what_parsing_every_line_yields(
    dump_name: str, style: str, ending: str, newline: bytes
) -> None:
    dump = DUMPS[dump_name]
    lines = _body(dump, style, _endings(dump)[ending])
    expected = _reference([line for raw in lines for line in (raw + newline).split(b"\n")])
    assert expected[0][0][0] == "text"  # the corpus streams text (the comparison means something)
    for reads in _cuts(_wire(lines, newline)):
        reader = SseLines()
        assert _read(reader, reads) == expected, (dump_name, style, ending, [len(r) for r in reads])
        # Lines that differ only in their text: the fast path was taken. (With a field that
        # changes from line to line, a template is learned too, and the lines it does not fit
        # are parsed: the comparison above says that stays exact.)
        assert reader.prefix is not None


def test_text_that_json_refuses_is_dropped_as_orjson_drops_it() -> None:
    """Bytes in a template's text slot that are not a JSON string's body: a raw control
    character, invalid UTF-8, a lone surrogate escape, a stray quote; each line is what orjson
    makes of it (dropped, or parsed in full), never the raw bytes."""
    first = _text_line(STANDIN, "standin", 0, "The")
    prefix, suffix = first.split(b'"The"')
    bad = [b"a\x01b", b"\xff\xfe", b"\\ud83d", b'x", "content": "y', b"a\tb", b"caf\xc3\xa9"]
    lines = (
        [first] + [prefix + b'"' + text + b'"' + suffix for text in bad] + [_text_line(STANDIN, "standin", 9, " ok")]
    )
    expected = _reference(lines)
    reader = SseLines()
    assert _read(reader, [_wire(lines)]) == expected
    assert reader.prefix is not None
    # dropped: the control characters, the bytes that are not UTF-8, the lone surrogate; the
    # stray quote makes a line with two "content" keys (orjson keeps the last)
    assert expected == ([("text", "Theycafé ok", 4)], None)


def test_a_template_is_kept_only_when_its_probe_parses_to_the_probe() -> None:
    """The text slot must be the delta's content: a line whose `"content"` sits elsewhere (a
    second choice, another field's value), or whose text is escaped, teaches nothing."""
    two_choices = {
        "choices": [
            {"index": 0, "delta": {"content": "a"}, "finish_reason": None},
            {"index": 1, "delta": {"content": "b"}, "finish_reason": None},
        ]
    }
    reader = SseLines()
    reader.parse([b"data: " + json.dumps(two_choices).encode()])
    assert reader.prefix is None
    escaped = {"choices": [{"index": 0, "delta": {"content": 'say "hi"'}, "finish_reason": None}]}
    reader.parse([b"data: " + json.dumps(escaped).encode()])
    assert reader.prefix is None
    reader.parse([b"data: " + json.dumps(two_choices).encode()])
    assert reader.prefix is None
    plain = {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
    reader.parse([b"data: " + json.dumps(plain).encode()])
    assert reader.prefix is None  # three tries, all spent
    fresh = SseLines()
    fresh.parse([b"data: " + json.dumps(plain).encode()])
    assert fresh.prefix == b'data: {"choices": [{"index": 0, "delta": {"content": "'


async def test_a_stream_cut_anywhere_arrives_whole_in_order_through_the_fast_path(unused_tcp_port: int) -> None:
    """A real server writing the stand-in's lines in pieces cut at odd sizes, 1 ms apart: the
    text arrives exactly once, in order, with the finish and the usage after it."""
    texts = [f" w{i}" for i in range(60)] + [" ünï", ' "q"', " end"]
    lines = _body(STANDIN, "standin", _endings(STANDIN)["finish+usage+done"], texts)  # type: ignore[arg-type]
    body = _wire(lines)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(v.split(b":")[1]) for v in head.split(b"\r\n") if v.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(body), 151):
            piece = body[i : i + 151]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.001)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    server = await asyncio.start_server(answer, "127.0.0.1", unused_tcp_port)
    try:
        chat = OpenAIStreamingChat(
            alias="m",
            base_url=f"http://127.0.0.1:{unused_tcp_port}/v1",
            model_name="m",
            api_key=SecretStr("sk-test"),
            timeout=httpx.Timeout(5.0),
        )
        chunks = [chunk async for chunk in chat.astream_chunks([HumanMessage(content="hi")])]
    finally:
        server.close()
    text = "".join(str(c.content) for c in chunks if type(c) is TextChunk)
    assert text == "".join(texts)
    assert sum(c.pieces for c in chunks if type(c) is TextChunk) == len(texts)
    tail = [c for c in chunks if type(c) is not TextChunk]
    assert [c.response_metadata.get("finish_reason") for c in tail] == ["stop", None]
    assert tail[1].usage_metadata == {"input_tokens": 5, "output_tokens": 14, "total_tokens": 19}
