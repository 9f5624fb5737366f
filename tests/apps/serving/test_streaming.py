"""The lean OpenAI-protocol chat model (apps/serving/streaming.py) against real HTTP servers:
the stand-in for streaming, usage, tool calls and failures, and a flow whose LLM node calls a tool."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage
from pydantic import SecretStr

from apps.serving.clients import async_http_client
from apps.serving.httpstream import HttpPool
from apps.serving.streaming import OpenAIStreamingChat
from flows.compiler import compile_flow
from flows.errors import ModelUnavailable
from flows.tools import resolve_tool
from flows.values import TextChunk
from tests.apps.serving.conftest import StubServer, free_port
from tests.flows.graphs import graph
from tests.flows.memory_ports import make_ports


def _model(base_url: str, model: str, **overrides: object) -> OpenAIStreamingChat:
    values: dict[str, object] = {
        "alias": "m",
        "base_url": base_url,
        "model_name": model,
        "api_key": SecretStr("sk-test"),
        "temperature": 0,
        "max_tokens": 64,
        "timeout": httpx.Timeout(5.0),
        **overrides,
    }
    return OpenAIStreamingChat(**values)  # type: ignore[arg-type]


async def test_streams_every_token_in_order_with_usage(standin_url: str) -> None:
    chat = _model(standin_url, "standin-rate-0-n-12", async_client=async_http_client())
    chunks = [chunk async for chunk in chat.astream("Say the words")]
    texts = [chunk.content for chunk in chunks if chunk.content]
    assert "".join(map(str, texts)) == "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima"
    usage = [chunk.usage_metadata for chunk in chunks if chunk.usage_metadata]
    assert usage == [{"input_tokens": 3, "output_tokens": 12, "total_tokens": 15}]


async def test_tokens_read_together_come_as_one_chunk(unused_tcp_port: int) -> None:
    """A model server that sends its whole answer in one write (what a server that fell behind
    reads from a fast model): the text is one chunk, with how many pieces it holds."""
    envelope = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    deltas = [
        {"role": "assistant", "content": ""},
        {"content": "alpha"},
        {"content": " bravo"},
        {"content": " charlie"},
    ]
    events = [{**envelope, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    events.append({**envelope, "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 3}})
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", unused_tcp_port)
    try:
        chat = _model(f"http://127.0.0.1:{unused_tcp_port}/v1", "m")
        chunks = [chunk async for chunk in chat.astream_chunks([HumanMessage(content="hi")])]
    finally:
        server.close()
    assert isinstance(chunks[0], TextChunk)
    assert (chunks[0].content, chunks[0].pieces) == ("alpha bravo charlie", 3)
    assert [c.usage_metadata for c in chunks[1:]] == [{"input_tokens": 2, "output_tokens": 3, "total_tokens": 5}]


async def test_tokens_that_arrive_apart_come_one_chunk_each(standin_url: str) -> None:
    """Nothing is held back to be joined: a reader that keeps up gets each token as it comes."""
    chat = _model(standin_url, "standin-rate-10-n-3", async_client=async_http_client())
    texts = [c.content async for c in chat.astream_chunks([HumanMessage(content="hi")]) if c.content]
    assert texts == ["alpha", " bravo", " charlie"]


async def test_connections_are_reused_between_calls(standin_url: str) -> None:
    pool = HttpPool()
    chat = _model(standin_url, "standin-rate-0-n-5", async_client=pool)
    for _ in range(3):
        assert (await chat.ainvoke("hi")).content == "alpha bravo charlie delta echo"
    assert (pool.opened, pool.reused) == (1, 2)  # one connection, read to the end each time
    pool.close()


async def test_ainvoke_and_the_sync_path_agree(standin_url: str) -> None:
    chat = _model(standin_url, "standin-rate-0-n-3")
    assert (await chat.ainvoke("hi")).content == "alpha bravo charlie"
    assert (await asyncio.to_thread(chat.invoke, "hi")).content == "alpha bravo charlie"


async def test_tool_calls_arrive_whole_from_split_chunks(standin_url: str) -> None:
    ports = make_ports()
    bound = _model(standin_url, "standin-tool").bind_tools([resolve_tool("calculator", ports)])
    reply = AIMessageChunk(content="")
    async for chunk in bound.astream([HumanMessage(content="What is 6*7?")]):
        reply = reply + chunk
    assert reply.tool_calls == [
        {"name": "calculator", "args": {"expression": "6*7"}, "id": "call_1", "type": "tool_call"}
    ]


async def test_an_llm_node_calls_a_tool_over_http_and_answers_with_its_result(standin_url: str) -> None:
    chat = _model(standin_url, "standin-tool", async_client=async_http_client())
    ports = make_ports(models={"tooly": chat})
    spec = (
        graph()
        .node("in", "chat_input")
        .node("llm", "llm", model="tooly", tools=["calculator"])
        .node("out", "output")
        .edge("in", "llm", "message", "prompt")
        .edge("llm", "out", "text", "value")
        .spec
    )
    events = [event async for event in compile_flow(spec, ports).events({"message": "What is 6*7?"})]
    assert events[-1].type == "run.finished", events[-1].data
    [output] = events[-1].data["outputs"].values()
    assert output["value"] == "The answer is 42"


async def test_http_errors_become_model_unavailable_without_the_servers_words(standin_url: str) -> None:
    chat = _model(f"{standin_url}/missing", "m")  # the stand-in answers 404 with an OpenAI error body
    with pytest.raises(ModelUnavailable) as caught:
        await chat.ainvoke("hi")
    assert caught.value.code == "model_unavailable"
    assert caught.value.message == "The server of model 'm' answered HTTP 404."  # its body: the server log only


async def test_a_refused_connection_is_a_transport_error() -> None:
    chat = _model(f"http://127.0.0.1:{free_port()}/v1", "m")
    with pytest.raises(ConnectionRefusedError):
        await chat.ainvoke("hi")


async def test_the_request_is_the_openai_protocol(stub: StubServer) -> None:
    chat = _model(f"{stub.origin}/v1", "gpt-x", temperature=0.3)
    await chat.ainvoke("hello", stop=["\n"])
    sent = json.loads(stub.seen[-1].body)
    assert sent["model"] == "gpt-x" and sent["stream"] is True
    assert sent["messages"] == [{"role": "user", "content": "hello"}]
    assert (sent["temperature"], sent["max_completion_tokens"], sent["stop"]) == (0.3, 64, ["\n"])
    assert stub.seen[-1].headers["authorization"] == "Bearer sk-test"
    assert "sk-test" not in repr(chat)


def test_only_consecutive_text_is_joined() -> None:
    """Text around a tool-call chunk stays on its side of it, and [DONE] ends the messages."""
    from apps.serving.streaming import _DONE, _parsed

    def line(delta: dict[str, object]) -> bytes:
        return b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}).encode()

    call = {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "calculator", "arguments": ""}}]}
    lines = [line({"content": "a"}), b"", line({"content": "b"}), line(call), line({"content": "c"}), b"data: [DONE]"]
    out, error = _parsed(lines)
    assert error is None
    assert [(type(m).__name__, m.content) for m in out[:3]] == [
        ("TextChunk", "ab"),
        ("AIMessageChunk", ""),
        ("TextChunk", "c"),
    ]
    assert out[1].tool_call_chunks[0]["name"] == "calculator" and out[3] is _DONE


def test_an_error_event_comes_after_the_text_read_with_it() -> None:
    """Text read in the same piece as the model's error event goes out first; lines after [DONE]
    are not read (an error there is not raised)."""
    from apps.serving.streaming import _DONE, _parsed
    from flows.errors import FlowError

    text = (
        b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]}).encode()
    )
    error = b"data: " + json.dumps({"error": {"message": "overloaded"}}).encode()
    messages, failure = _parsed([text, b"", text, b"", error, b"", text])
    assert [(type(m).__name__, m.content) for m in messages] == [("TextChunk", "aa")]
    assert isinstance(failure, FlowError) and failure.code == "model_unavailable"
    messages, failure = _parsed([text, b"data: [DONE]", error])
    assert messages[-1] is _DONE and failure is None


def _sse(event: object) -> bytes:
    data = event if isinstance(event, bytes) else json.dumps(event).encode()
    line = b"data: " + data + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(line), line)


def _delta(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


async def _paced_answer(
    unused_tcp_port: int, ending: list[bytes], tail: str = ""
) -> tuple[list[AIMessageChunk | TextChunk], Exception | None, int]:
    """A model server that sends 40 tokens 4 ms apart and then `ending` in one write, read by a
    pool that paces from the first answer (a tick of 0.1 s): the chunks, the error raised and the
    paced reads."""
    words = [f" w{i}" for i in range(40)]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(v.split(b":")[1]) for v in head.split(b"\r\n") if v.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(_sse(_delta({"role": "assistant", "content": ""})))
        for word in words:
            writer.write(_sse(_delta({"content": word})))
            await writer.drain()
            await asyncio.sleep(0.004)
        writer.write(b"".join(ending) + b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    pool = HttpPool(pace_s=0.1, pace_streams=1)
    server = await asyncio.start_server(answer, "127.0.0.1", unused_tcp_port)
    chunks: list[AIMessageChunk | TextChunk] = []
    failure: Exception | None = None
    try:
        chat = _model(f"http://127.0.0.1:{unused_tcp_port}/v1", "m", async_client=pool)
        try:
            async for chunk in chat.astream_chunks([HumanMessage(content="hi")]):
                chunks.append(chunk)
        except Exception as exc:  # the test looks at which
            failure = exc
    finally:
        server.close()
        pool.close()
    assert "".join(str(c.content) for c in chunks) == "".join(words) + tail  # every token once, in order
    assert chunks[0].content == " w0"  # the first token is never held
    assert pool.pacer.open == 0
    return chunks, failure, pool.pacer.reads


async def test_paced_reads_keep_every_token_and_the_finish_read_with_them(unused_tcp_port: int) -> None:
    """Under load (the pool pacing) tokens come in a few reads; the finish and usage that arrive
    in the same read as the last tokens come after them."""
    ending = [
        _sse(_delta({"content": ""}, "stop")),
        _sse({"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 40}}),
        _sse(b"[DONE]"),
    ]
    chunks, failure, reads = await _paced_answer(unused_tcp_port, ending)
    assert failure is None
    assert 2 <= len(chunks) <= 12 and reads <= 8, [c.content for c in chunks]  # unpaced: ~42 chunks
    assert isinstance(chunks[-2], AIMessageChunk) and chunks[-2].response_metadata == {"finish_reason": "stop"}
    assert chunks[-1].usage_metadata == {"input_tokens": 2, "output_tokens": 40, "total_tokens": 42}


async def test_paced_reads_keep_the_tokens_read_with_the_models_error(unused_tcp_port: int) -> None:
    """The model's error event that arrives in the same read as tokens is raised after them."""
    ending = [_sse(_delta({"content": " tail"})), _sse({"error": {"message": "overloaded"}})]
    chunks, failure, _reads = await _paced_answer(unused_tcp_port, ending, " tail")
    assert isinstance(failure, ModelUnavailable)
    assert len(chunks) <= 12
