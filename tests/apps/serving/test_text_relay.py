"""The text relay (apps.serving.streaming.TextRelay): a stream's plain text from the socket read
straight to the caller's `on_text`, past the reader. The matcher on every cut of a body; the
client against real sockets (a scripted server that cuts its body anywhere, the stand-in model
server), paced and not; the LLM node and the gateway's answer cache through it; a cancel and a
model error in the middle of relayed text."""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage
from pydantic import SecretStr

from apps.serving import accounting
from apps.serving.accounting import Meter
from apps.serving.cache import ANSWERS
from apps.serving.clients import async_http_client
from apps.serving.gateway import GatewayModels
from apps.serving.httpstream import HttpPool
from apps.serving.selectors import model_endpoint_list
from apps.serving.services import model_endpoint_create
from apps.serving.streaming import OpenAIStreamingChat, TextRelay
from flows.compiler import compile_flow
from flows.errors import ModelUnavailable
from flows.events import EventType
from flows.ports import Ports
from flows.values import TextChunk
from tests.conftest import Member
from tests.flows.graphs import chat_flow
from tests.flows.memory_ports import make_ports
from tests.support.standin import reply_tokens

PREFIX = b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"'
SUFFIX = b'"},"finish_reason":null}]}'


def frame(text: bytes) -> bytes:
    """One HTTP chunk holding one template line (what vLLM and the stand-in send per token)."""
    line = PREFIX + text + SUFFIX + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(line), line)


def sse(event: object) -> bytes:
    data = event if isinstance(event, bytes) else json.dumps(event, separators=(",", ":")).encode()
    line = b"data: " + data + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(line), line)


def text_line(text: str) -> bytes:
    """A text delta as a server writes it: the template line when the text needs no escape."""
    escaped = json.dumps(text, ensure_ascii=False)[1:-1].encode()
    return frame(escaped)


async def _relay(on_text: Callable[[str, int], None], wake: Callable[[], None] = lambda: None) -> TextRelay:
    return TextRelay(PREFIX, SUFFIX, on_text, wake)  # made in a task, as the reader makes it


async def test_the_relay_takes_whole_chunks_of_template_lines_and_nothing_else() -> None:
    got: list[tuple[str, int]] = []
    relay = await _relay(lambda text, pieces: got.append((text, pieces)))
    body = frame(b" alpha") + frame(b" bravo") + frame(" café".encode())
    assert relay.feed(body) and got == [(" alpha bravo café", 3)]
    # Cut anywhere: the first part is taken only when it ends between two chunks.
    between = {len(frame(b" alpha")), len(frame(b" alpha") + frame(b" bravo"))}
    for cut in range(1, len(body)):
        got.clear()
        assert relay.feed(body[:cut]) == (cut in between), cut
        assert relay.feed(body[cut:]) == (cut in between), cut  # a read that starts mid-chunk: never
    # Declined whole, nothing handed on: an escape, empty text, the last chunk, a chunk longer or
    # shorter than its size, a chunk extension, a finish reason, usage, [DONE], text that is not
    # UTF-8 (alone or in a line of its own), an error event.
    got.clear()
    line = PREFIX + b"x" + SUFFIX + b"\n\n"
    declined = [
        frame(b'say \\"hi\\"'),
        frame(b""),
        b"0\r\n\r\n",
        frame(b" a") + b"0\r\n\r\n",
        b"%x\r\n%s\r\n" % (len(line) + 1, line),
        b"%x\r\n%s\r\n" % (len(line) - 1, line),
        b"%x;ext=1\r\n%s\r\n" % (len(line), line),
        sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        frame(b" a") + sse({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}),
        sse(b"[DONE]"),
        frame(b"\xff"),
        frame("é".encode()[:1]) + frame("é".encode()[1:]),
        frame(b" a") + sse({"error": {"message": "overloaded"}}),
        b"data: " + PREFIX[6:] + b"x" + SUFFIX + b"\n\n",  # a body that is not chunked
    ]
    for data in declined:
        assert not relay.feed(data), data
    assert got == []


def _reference(data: bytes) -> tuple[str, int] | None:
    """The relay's rule as a regular expression (how it was first written, a pattern per stream):
    whole chunks, each of whole template lines; text with no quote, backslash or control byte."""
    line = re.compile(re.escape(PREFIX) + rb'([^"\\\x00-\x1f]*)' + re.escape(SUFFIX) + rb"\n\n")
    pieces, pos = [], 0
    while pos < len(data):
        head = re.compile(rb"([0-9a-fA-F]{1,8})\r\n").match(data, pos)
        if head is None:
            return None
        start, stop = head.end(), head.end() + int(head.group(1), 16)
        if stop == start or stop + 2 > len(data) or data[stop : stop + 2] != b"\r\n":
            return None
        while start < stop:
            matched = line.match(data, start, stop)
            if matched is None:
                return None
            if matched.group(1):
                pieces.append(matched.group(1))
            start = matched.end()
        pos = stop + 2
    try:
        return ("".join(p.decode() for p in pieces), len(pieces)) if pieces else None
    except UnicodeDecodeError:
        return None


async def test_the_relay_takes_exactly_what_its_rule_takes_on_mutated_bodies() -> None:
    """A mutated body (a byte changed, dropped or doubled; lines and chunks joined) is taken as the
    reference rule takes it, or declined when the rule declines it."""
    got: list[tuple[str, int]] = []
    relay = await _relay(lambda text, pieces: got.append((text, pieces)))
    rng = random.Random(15)
    alphabet = [b'"', b"\\", b"\n", b"\r", b"\x00", b"a", b" ", b"0", b"}", "é".encode()[:1], b"%"]
    taken = 0
    for _ in range(3000):
        lines = [PREFIX + rng.choice([b" a", b"", b" bravo", " café".encode()]) + SUFFIX + b"\n\n" for _ in range(3)]
        if rng.random() < 0.5:
            body = b"".join(b"%x\r\n%s\r\n" % (len(x), x) for x in lines)
        else:  # several lines in one chunk
            joined = b"".join(lines)
            body = b"%x\r\n%s\r\n" % (len(joined), joined)
        data = bytearray(body)
        for _ in range(rng.choice([0, 1, 1, 2])):
            at = rng.randrange(len(data))
            what = rng.random()
            if what < 0.4:
                data[at : at + 1] = rng.choice(alphabet)
            elif what < 0.7:
                del data[at]
            else:
                data[at:at] = data[at : at + 1]
        got.clear()
        expected = _reference(bytes(data))
        assert relay.feed(bytes(data)) == (expected is not None), bytes(data)
        assert got == ([] if expected is None else [expected]), bytes(data)
        taken += expected is not None
    assert 300 < taken < 2700  # both sides of the rule were walked


async def test_the_relay_declines_once_its_task_is_being_cancelled() -> None:
    got: list[str] = []
    started = asyncio.Event()
    relays: list[TextRelay] = []

    async def reader() -> None:
        relays.append(await _relay(lambda text, _pieces: got.append(text)))
        started.set()
        await asyncio.sleep(10)

    task = asyncio.create_task(reader())
    await started.wait()
    assert relays[0].feed(frame(b" one"))
    task.cancel()
    assert not relays[0].feed(frame(b" two"))  # cancel asked for: the reader sees what comes next
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not relays[0].feed(frame(b" three"))
    assert got == [" one"]


async def test_what_on_text_raises_goes_to_the_reader() -> None:
    woken: list[bool] = []

    def refuses(text: str, pieces: int) -> None:
        raise ValueError("no room")

    relay = await _relay(refuses, lambda: woken.append(True))
    assert relay.feed(frame(b" a"))  # taken: the error is the reader's now
    assert isinstance(relay.error, ValueError) and woken == [True]
    assert not relay.feed(frame(b" b"))  # and nothing more is relayed


def _model(base_url: str, model: str, pool: HttpPool) -> OpenAIStreamingChat:
    return OpenAIStreamingChat(
        alias="m",
        base_url=base_url,
        model_name=model,
        api_key=SecretStr("sk-test"),
        temperature=0,
        max_tokens=64,
        timeout=httpx.Timeout(5.0),
        async_client=pool,
    )


async def _read(chat: OpenAIStreamingChat) -> tuple[list[Any], Exception | None]:
    """What the caller sees, in order: each chunk the generator yields, and each text relayed
    past it (as a ("relayed", text, pieces) tuple)."""
    seen: list[Any] = []
    failure: Exception | None = None
    try:
        async for chunk in chat.astream_chunks(
            [HumanMessage(content="hi")], on_text=lambda text, pieces: seen.append(("relayed", text, pieces))
        ):
            seen.append(chunk)
    except Exception as exc:  # the test looks at which
        failure = exc
    return seen, failure


def _text(seen: list[Any]) -> str:
    return "".join(item[1] if isinstance(item, tuple) else str(item.content) for item in seen)


WORDS = [" w0", ' say "hi"', " \\ back", " tab\t", " café", " 日本", "", " 🙂", " plain", " end"]


async def _cut_answer(seed: int, pool: HttpPool, ending: list[bytes]) -> tuple[list[Any], Exception | None, str]:
    """A model server that writes its answer as servers do, a chunk at a time, but also cut at
    random places and several chunks at once, with random pauses: every kind of text line, then
    `ending` and the last chunk."""
    rng = random.Random(seed)
    words = [rng.choice(WORDS) if i % 3 else f" t{i}" for i in range(60)]
    frames = [text_line(""), *(text_line(w) for w in words), *ending, b"0\r\n\r\n"]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(v.split(b":")[1]) for v in head.split(b"\r\n") if v.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(text_line("first"))  # the first token goes at once (and teaches the template)
        await writer.drain()
        await asyncio.sleep(0.003)
        pending = list(frames)
        while pending:
            how = rng.random()
            if how < 0.5:  # one chunk, whole
                pieces = [pending.pop(0)]
            elif how < 0.75:  # one chunk cut in two, a pause between
                whole = pending.pop(0)
                cut = rng.randrange(1, len(whole))
                pieces = [whole[:cut], whole[cut:]]
            else:  # several chunks in one write, cut anywhere in the last
                count = min(len(pending), rng.randrange(2, 5))
                joined = b"".join(pending[:count])
                del pending[:count]
                cut = rng.randrange(len(joined) - len(joined) // count, len(joined) + 1)
                pieces = [joined[:cut], joined[cut:]]
            for piece in pieces:
                if piece:
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(rng.choice([0.001, 0.002, 0.004]))
        await reader.read()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        seen, failure = await _read(_model(f"http://127.0.0.1:{port}/v1", "m", pool))
    finally:
        server.close()
        pool.close()
    return seen, failure, "first" + "".join(words)


@pytest.mark.parametrize("paced", [False, True])
async def test_text_cut_anywhere_arrives_whole_and_in_order(paced: bool) -> None:
    """Random cuts, escapes, non-ASCII, empty deltas: yielded and relayed text together are the
    answer, once, in order; the finish and the usage come after the last text."""
    ending = [
        sse({"choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "stop"}]}),
        sse({"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 60}}),
        sse(b"[DONE]"),
    ]
    relayed = 0
    for seed in range(12):
        pool = HttpPool(pace_s=0.005, pace_streams=1) if paced else HttpPool()
        seen, failure, expected = await _cut_answer(seed, pool, ending)
        assert failure is None
        assert _text(seen) == expected, seed
        assert isinstance(seen[-2], AIMessageChunk) and seen[-2].response_metadata == {"finish_reason": "stop"}
        assert seen[-1].usage_metadata == {"input_tokens": 2, "output_tokens": 60, "total_tokens": 62}
        assert isinstance(seen[0], TextChunk) and seen[0].content.startswith("first")  # never relayed
        relayed += pool.pacer.relayed
        assert pool.pacer.relayed == sum(isinstance(item, tuple) for item in seen)
    assert relayed > 20  # the relay did take part


async def test_text_held_for_the_reader_is_never_overtaken_by_relayed_text() -> None:
    """Paced, a read the relay declined waits for the tick with the reader; what the tick reads
    next (plain text the relay could take) goes after it, through the reader."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(v.split(b":")[1]) for v in head.split(b"\r\n") if v.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (text_line("first"), text_line(' "quoted"'), text_line(" plain") + text_line(" text")):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        writer.write(text_line(" later"))
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(sse(b"[DONE]") + b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = HttpPool(pace_s=0.08, pace_streams=1)
    try:
        seen, failure = await _read(_model(f"http://127.0.0.1:{port}/v1", "m", pool))
    finally:
        server.close()
        pool.close()
    assert failure is None
    assert _text(seen) == 'first "quoted" plain text later'
    assert pool.pacer.relayed >= 1  # " later": relayed at a tick of its own


async def test_the_models_error_after_relayed_text_is_raised_after_it() -> None:
    ending = [text_line(" tail"), sse({"error": {"message": "overloaded"}})]
    for seed in range(4):
        seen, failure, expected = await _cut_answer(seed, HttpPool(), ending)
        assert isinstance(failure, ModelUnavailable)
        assert _text(seen) == expected + " tail"


async def test_a_pool_with_the_relay_off_yields_every_chunk(standin_url: str) -> None:
    pool = HttpPool(relay_text=False)
    seen, failure = await _read(_model(standin_url, "standin-rate-300-n-40", pool))
    pool.close()
    assert failure is None and pool.pacer.relayed == 0
    assert not any(isinstance(item, tuple) for item in seen)
    assert _text(seen) == "".join(reply_tokens(40))


@pytest.mark.parametrize("paced", [False, True])
async def test_the_stand_in_streams_through_the_relay(standin_url: str, paced: bool) -> None:
    pool = HttpPool(pace_s=0.02, pace_streams=1) if paced else HttpPool()
    seen, failure = await _read(_model(standin_url, "standin-rate-300-n-60", pool))
    pool.close()
    assert failure is None
    assert _text(seen) == "".join(reply_tokens(60))
    relayed = [item for item in seen if isinstance(item, tuple)]
    assert pool.pacer.relayed == len(relayed) > 0
    if paced:  # several tokens a read once held for the tick
        assert sum(pieces for _, _, pieces in relayed) > len(relayed)
    assert seen[-1].usage_metadata["output_tokens"] == 60


async def test_the_llm_node_streams_relayed_tokens_as_events(standin_url: str) -> None:
    """A run's token events through the relay: the reply once, in order, seq without a gap, the
    node's output the whole reply; then a run cancelled mid-stream ends cancelled with no token
    after it."""
    models = {"fast": _model(standin_url, "standin-rate-200-n-80", async_http_client())}
    flow = compile_flow(chat_flow(model="fast"), make_ports(models))
    events = [e async for e in flow.events({"message": "hi"})]
    assert events[-1].type == EventType.RUN_FINISHED, events[-1].data
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    tokens = [e.data["text"] for e in events if e.type == EventType.TOKEN]
    assert "".join(tokens) == "".join(reply_tokens(80))
    assert async_http_client().pacer.relayed > 0
    assert "".join(reply_tokens(80)) in json.dumps(events[-1].data["outputs"], ensure_ascii=False)

    slow = {"fast": _model(standin_url, "standin-rate-100-n-400", async_http_client())}
    seen: list[Any] = []
    task = asyncio.create_task(
        compile_flow(chat_flow(model="fast"), make_ports(slow)).execute({"message": "go"}, sink=seen.append)
    )
    before = async_http_client().pacer.relayed
    while async_http_client().pacer.relayed < before + 5:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen[-1].type == EventType.RUN_CANCELLED
    assert [e.seq for e in seen] == list(range(1, len(seen) + 1))
    await asyncio.sleep(0.1)  # the stand-in goes on sending: nothing more reaches the run
    assert seen[-1].type == EventType.RUN_CANCELLED


@pytest.mark.django_db(transaction=True)
def test_relayed_text_is_what_the_answer_cache_keeps(org_a: Member, standin_url: str) -> None:
    """The gateway keeps the whole answer for its cache when most of it was relayed: the repeat is
    answered from the cache with the same words."""
    ANSWERS.clear()
    model_endpoint_create(
        access=org_a.access,
        alias="echo",
        base_url=standin_url,
        model="standin-echo",
        cache_ttl_s=60,
        price_input_per_1k=Decimal(1),
    )
    graph = chat_flow(model="echo")
    graph["nodes"][2]["config"].update(temperature=0, max_tokens=64)
    question = "one two three four five six seven eight nine ten eleven twelve"

    def run() -> tuple[str, dict[str, Any], int]:
        memory = make_ports()
        gateway = GatewayModels.of(
            list(model_endpoint_list(organization=org_a.organization)), meter=Meter.load(org_a.organization.pk)
        )
        ports = Ports(
            models=gateway, retrievers=memory.retrievers, memory=memory.memory, http=memory.http, clock=memory.clock
        )

        async def go() -> tuple[str, dict[str, Any], int]:
            events = [e async for e in compile_flow(graph, ports).events({"message": question})]
            await accounting.flush()
            assert events[-1].type == EventType.RUN_FINISHED, events[-1].data
            text = "".join(e.data["text"] for e in events if e.type == EventType.TOKEN)
            finished = next(e for e in events if e.type == EventType.NODE_FINISHED and e.node == "llm")
            return text, dict(finished.data.get("notes") or {}), async_http_client().pacer.relayed

        return asyncio.run(go())

    first, first_notes, relayed = run()
    assert question in first and "cached" not in first_notes and relayed > 0
    second, second_notes, _ = run()
    assert second == first and second_notes.get("cached") == "exact"


def test_the_setting_turns_the_relay_off_for_new_pools(settings: Any) -> None:
    """`TRELLIS_STREAM_RELAY=0` (settings.STREAM_RELAY) reaches the pool each event loop's model calls use."""

    async def relay_text() -> bool:
        return async_http_client().relay_text

    assert asyncio.run(relay_text()) is True
    settings.STREAM_RELAY = False
    assert asyncio.run(relay_text()) is False
