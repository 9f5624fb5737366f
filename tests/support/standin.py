"""An OpenAI-compatible stand-in model server: streams a fixed reply at a set rate.

Model time is then known exactly, so tests and benchmarks measure Trellis, not a model.
The requested model name picks the behaviour:
    standin              30 tokens/s, 12 tokens
    standin-rate-R-n-N   R tokens/s, N tokens (R=0: as fast as possible)
    standin-die-K        drops the connection after K tokens
    standin-stall-K      goes silent after K tokens
    standin-echo         streams the last user message back, word by word (30 tokens/s)
    standin-transcript   streams back every message it was sent, one "role: content" line each
    standin-context-N    refuses with HTTP 400 as vLLM does for a prompt over an N-token window
    standin-tool         calls the first offered tool with {"expression": "6*7"} (arguments split
                         over two chunks), then answers "The answer is <tool result>"
    standin-moderator    answers 'Scores: {"violence": 0.9, ...}' for the words of MODERATION_WORDS in
                         the last user message (a moderation classifier prompt's answer)
POST /v1/moderations scores its `input` the same way, in OpenAI's moderation answer format.
Run: python -m tests.support.standin --port 8011

It is a bare asyncio server (uvloop when importable; HTTP/1.1 with keep-alive, idle connections
closed after 5 s as uvicorn does, bodies by Content-Length, streams chunked), lean so a
benchmark's CPU goes to the server it measures: one shared ticker paces every stream against its
own start, and each token is one pre-framed write built from a per-stream template (only the
token itself is JSON-escaped).
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import re
import time
from collections import deque
from typing import Any

import httptools

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
]


MODERATION_WORDS = {
    "violence": ("kill", "hurt", "stab", "shoot"),
    "harassment": ("idiot", "loser"),
    "self-harm": ("kill myself", "hurt myself"),
    "hate": ("vermin",),
    "sexual": ("nude",),
    "illicit": ("steal", "cook meth"),
}


def moderation_scores(text: str) -> dict[str, float]:
    lowered = text.lower()
    return {name: 0.93 if any(w in lowered for w in words) else 0.01 for name, words in MODERATION_WORDS.items()}


def reply_tokens(count: int) -> list[str]:
    return [(" " if i else "") + WORDS[i % len(WORDS)] for i in range(count)]


def behaviour(model: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"rate": 30.0, "tokens": 12, "die": None, "stall": None}
    if m := re.fullmatch(r"standin-rate-(\d+(?:\.\d+)?)-n-(\d+)", model):
        spec.update(rate=float(m.group(1)), tokens=int(m.group(2)))
    elif m := re.fullmatch(r"standin-die-(\d+)", model):
        spec.update(die=int(m.group(1)), tokens=50)
    elif m := re.fullmatch(r"standin-stall-(\d+)", model):
        spec.update(stall=int(m.group(1)), tokens=50)
    return spec


# --- wire helpers ------------------------------------------------------------------------------

REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 500: b"Internal Server Error"}
STREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
CLOSE_HEADER = b"connection: close\r\n"
DONE = b"data: [DONE]\n\n"
KEEP_ALIVE_S = 5.0  # an idle kept-alive connection is closed after this long
LAST_CHUNK = b"0\r\n\r\n"
_SENTINEL = "\x00standin-token\x00"
_ESCAPED: dict[str, bytes] = {}  # token -> its JSON string literal (the reply words repeat)


def _chunk(body: bytes) -> bytes:
    """One HTTP/1.1 chunk (Transfer-Encoding: chunked)."""
    return b"%x\r\n%b\r\n" % (len(body), body)


def _escaped(token: str) -> bytes:
    literal = _ESCAPED.get(token)
    if literal is None:
        literal = json.dumps(token).encode()
        if len(_ESCAPED) < 10_000:
            _ESCAPED[token] = literal
    return literal


def _response(status: int, body: bytes, content_type: bytes, keep_alive: bool) -> bytes:
    return b"HTTP/1.1 %d %b\r\ncontent-type: %b\r\ncontent-length: %d\r\n%b\r\n%b" % (
        status,
        REASONS.get(status, b"Unknown"),
        content_type,
        len(body),
        b"" if keep_alive else CLOSE_HEADER,
        body,
    )


def _json_response(status: int, payload: Any, keep_alive: bool) -> bytes:
    return _response(status, json.dumps(payload).encode(), b"application/json", keep_alive)


# --- the shared ticker -------------------------------------------------------------------------

SLOTS_PER_S = 1000  # the ticker's resolution


class Ticker:
    """One timer for all streams: streams wait in per-millisecond slots, fired in order.

    The loop's clock has millisecond resolution, so a token due at t waits in slot ceil(t in ms):
    never early, at most a millisecond late. Token i of a stream is due at start + i * interval,
    so lateness does not accumulate.
    """

    def __init__(self) -> None:
        self.slots: dict[int, list[Stream]] = {}
        self.order: list[int] = []  # heap of the slots in use
        self.timer: asyncio.TimerHandle | None = None
        self.timer_slot = 1 << 62

    def schedule(self, at: float, stream: Stream) -> None:
        slot = -int(-at * SLOTS_PER_S)  # rounded up: never early
        waiting = self.slots.get(slot)
        if waiting is not None:
            waiting.append(stream)
            return
        self.slots[slot] = [stream]
        heapq.heappush(self.order, slot)
        if slot < self.timer_slot:
            if self.timer is not None:
                self.timer.cancel()
            self.timer_slot = slot
            self.timer = asyncio.get_running_loop().call_at(slot / SLOTS_PER_S, self.tick)

    def tick(self) -> None:
        self.timer, self.timer_slot = None, -1  # streams rescheduled below set no timer of their own
        loop = asyncio.get_running_loop()
        order, slots = self.order, self.slots
        now = int(loop.time() * SLOTS_PER_S + 0.001)  # (+: float rounding of slot / SLOTS_PER_S)
        while order and order[0] <= now:
            for stream in slots.pop(heapq.heappop(order)):
                if not stream.closed:
                    stream.advance()
        if order:
            self.timer_slot = order[0]
            self.timer = loop.call_at(self.timer_slot / SLOTS_PER_S, self.tick)
        else:
            self.timer_slot = 1 << 62


TICKER = Ticker()


class Stream:
    """One streamed reply: the token chunks paced against the stream's start, then the tail."""

    __slots__ = ("chunks", "closed", "conn", "ending", "index", "interval", "started", "stop", "tail", "write")

    def __init__(
        self,
        conn: Connection,
        *,
        prefix: bytes,
        suffix: bytes,
        tokens: list[str],
        interval: float,
        die: int | None,
        stall: int | None,
        tail: bytes,
    ) -> None:
        self.conn, self.write = conn, conn.transport.write
        # Each token's whole chunk, framed; replies repeat their words, so each is built once.
        framed = {token: _chunk(prefix + _escaped(token) + suffix) for token in set(tokens)}
        self.chunks = [framed[token] for token in tokens]
        self.stop, self.ending = len(tokens), "end"  # what happens at index `stop`
        if die is not None and die < self.stop:
            self.stop, self.ending = die, "die"
        elif stall is not None and stall < self.stop:
            self.stop, self.ending = stall, "stall"
        self.interval, self.tail = interval, tail
        self.index = 0
        self.started = 0.0
        self.closed = False

    def begin(self, head: bytes) -> None:
        """Headers and the role chunk now; token 0 follows at once, token i at start + i * interval."""
        if not self.interval:  # as fast as possible: everything in one write
            self.index = self.stop
            self.finish(b"".join([head, *self.chunks[: self.stop]]))
            return
        self.write(head)
        self.started = asyncio.get_running_loop().time()
        if self.stop:
            self.advance()
        else:
            self.finish(b"")

    def advance(self) -> None:
        """Send the token due now; then wait for the next one, or end."""
        index = self.index
        self.write(self.chunks[index])
        index += 1
        self.index = index
        if index < self.stop:
            at = self.started + index * self.interval
            waiting = TICKER.slots.get(-int(-at * SLOTS_PER_S))  # the common case of Ticker.schedule, inline
            if waiting is not None:
                waiting.append(self)
            else:
                TICKER.schedule(at, self)
        else:
            self.finish(b"")

    def finish(self, data: bytes) -> None:
        if self.ending == "end":
            self.write(data + self.tail)
            self.closed = True
            self.conn.done()
        elif self.ending == "die":  # drop the connection mid-stream (the body is left incomplete)
            if data:
                self.write(data)
            self.closed = True
            self.conn.transport.close()
        elif data:  # stall: go silent and hold the connection open
            self.write(data)


# --- the connection ----------------------------------------------------------------------------


class Connection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive; requests on one connection are answered in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        self.requests: deque[tuple[bytes, bytes, bool]] = deque()
        self.busy = False
        self.keep_alive = True
        self.lost = False
        self.stream: Stream | None = None
        self.timer: asyncio.TimerHandle | None = None  # a non-streamed reply's delay
        self.idle: asyncio.TimerHandle | None = None  # closes a kept-alive connection left unused

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass
        except httptools.HttpParserError:
            self.transport.write(_response(400, b"Bad Request", b"text/plain; charset=utf-8", False))
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.stream is not None:
            self.stream.closed = True  # the ticker drops it
        if self.timer is not None:
            self.timer.cancel()
        if self.idle is not None:
            self.idle.cancel()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url, self.body = b"", []
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.requests.append((self.url.split(b"?", 1)[0], b"".join(self.body), self.parser.should_keep_alive()))
        if not self.busy:
            self._next()

    # responses
    def _next(self) -> None:
        while self.requests and not self.busy and not self.lost:
            path, body, keep_alive = self.requests.popleft()
            self.busy, self.keep_alive = True, keep_alive
            try:
                self._handle(path, body)
            except Exception:  # a bad request body: answer 500 as an ASGI server would
                self.stream, self.keep_alive = None, False
                self.write_done(_response(500, b"Internal Server Error", b"text/plain; charset=utf-8", False))

    def write_done(self, data: bytes) -> None:
        self.transport.write(data)
        self.done()

    def done(self) -> None:
        self.busy, self.stream, self.timer = False, None, None
        if not self.keep_alive:
            self.transport.close()
            self.lost = True
        elif self.requests:
            asyncio.get_running_loop().call_soon(self._next)
        else:  # as uvicorn does (timeout_keep_alive)
            self.idle = asyncio.get_running_loop().call_later(KEEP_ALIVE_S, self.transport.close)

    def _handle(self, path: bytes, raw: bytes) -> None:
        keep_alive = self.keep_alive
        if path in {b"/health", b"/v1/health"}:
            self.write_done(_json_response(200, {"status": "ok"}, keep_alive))
            return
        if path == b"/v1/models":
            self.write_done(
                _json_response(200, {"object": "list", "data": [{"id": "standin", "object": "model"}]}, keep_alive)
            )
            return
        if path == b"/v1/moderations":
            scores = moderation_scores(str(json.loads(raw).get("input", "")))
            result = {"flagged": max(scores.values()) > 0.5, "categories": {k: v > 0.5 for k, v in scores.items()}}
            answer = {"id": "modr-standin", "model": "standin", "results": [{**result, "category_scores": scores}]}
            self.write_done(_json_response(200, answer, keep_alive))
            return
        if path != b"/v1/chat/completions":
            self.write_done(
                _json_response(404, {"error": {"message": "not found", "type": "invalid_request_error"}}, keep_alive)
            )
            return
        request = json.loads(raw)
        model = request.get("model")
        spec = behaviour(str(request.get("model", "standin")))
        tokens = reply_tokens(min(spec["tokens"], int(request.get("max_tokens") or 10_000)))
        messages = request.get("messages", [])
        if window := re.fullmatch(r"standin-context-(\d+)", str(model)):  # vLLM's refusal, word for word
            size = int(window.group(1))
            said = (
                f"This model's maximum context length is {size} tokens. However, you requested {size + 52} tokens "
                f"({size - 204} in the messages, 256 in the completion). Please reduce the length of the messages "
                "or completion."
            )
            error = {"object": "error", "message": said, "type": "BadRequestError", "param": None, "code": 400}
            self.write_done(_json_response(400, error, keep_alive))
            return
        if model == "standin-echo":
            users = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
            tokens = re.findall(r"\s*\S+", users[-1] if users else "")
        elif model == "standin-moderator":
            users = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
            scores = {k.replace("-", "_"): v for k, v in moderation_scores(users[-1] if users else "").items()}
            tokens = re.findall(r"\s*\S+", "Scores: " + json.dumps(scores))
        elif model == "standin-transcript":  # every message it was sent, as "role: content" lines
            said = "\n".join(f"{m.get('role')}: {m.get('content', '')}" for m in messages)
            tokens = re.findall(r"\s*\S+", said)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        created, ident = int(time.time()), f"chatcmpl-{time.monotonic_ns()}"
        if not request.get("stream"):
            reply = {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "".join(tokens)}, "finish_reason": "stop"}
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(tokens),
                    "total_tokens": prompt_tokens + len(tokens),
                },
            }
            data = _json_response(200, reply, keep_alive)
            delay = len(tokens) / spec["rate"] if spec["rate"] else 0
            self.timer = asyncio.get_running_loop().call_later(delay, self.write_done, data)
            return

        def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
            payload = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else [],
                "usage": usage,
            }
            return _chunk(f"data: {json.dumps(payload)}\n\n".encode())

        head = STREAM_HEAD + (b"" if keep_alive else CLOSE_HEADER) + b"\r\n"
        if model == "standin-tool":
            results = [str(m.get("content", "")) for m in messages if m.get("role") == "tool"]
            if results:
                tokens = ["The", " answer", " is", f" {results[-1]}"]
            elif request.get("tools"):
                name = request["tools"][0]["function"]["name"]
                call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}
                parts = [head, chunk({"tool_calls": [call]})]
                for part in ('{"expression": ', '"6*7"}'):
                    parts.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}))
                parts += [chunk({}, "tool_calls"), _chunk(DONE), LAST_CHUNK]
                self.write_done(b"".join(parts))
                return
        tail = chunk({}, "stop")
        if (request.get("stream_options") or {}).get("include_usage"):
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(tokens),
                "total_tokens": prompt_tokens + len(tokens),
            }
            tail += chunk({}, usage=usage)
        # Each token's chunk is this template with the token's JSON literal in the sentinel's place.
        prefix, suffix = chunk({"content": _SENTINEL})[:-2].split(b"\r\n", 1)[1].split(_escaped(_SENTINEL), 1)
        self.stream = Stream(
            self,
            prefix=prefix,
            suffix=suffix,
            tokens=tokens,
            interval=1 / spec["rate"] if spec["rate"] else 0,
            die=spec["die"],
            stall=spec["stall"],
            tail=tail + _chunk(DONE) + LAST_CHUNK,
        )
        self.stream.begin(head + chunk({"role": "assistant", "content": ""}))


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Connection, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8011)
    args = parser.parse_args()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    try:
        with runner:
            runner.run(serve(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
