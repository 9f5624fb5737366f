"""A lean HTTP/1.1 client for model streams (docs/adr/0005, session 6).

At 500 concurrent streams aiohttp's response machinery (its stream reader, the payload layers
and a read-timeout timer re-armed on every read) took ~19% of a web worker's CPU. A model call
needs far less: one POST on a connection at a time, connections kept alive per origin, and the
body handed to the reader as it arrives. This client is that:

- the response is parsed by httptools (llhttp, the C parser uvicorn serves with), chunked or
  content-length bodies alike;
- the reader gets everything buffered in one piece (`StreamResponse.chunk`), so data read
  together is handled together, and waits on one future only when nothing is buffered;
- the read timeout (the longest silence between reads) is one timer per call that re-arms
  itself at most once per timeout, from the time of the last read;
- a reader that falls behind pauses the socket (high/low water marks), so a fast server cannot
  fill memory;
- pacing under load (`Pacer`): while at least `pace_streams` answers that asked for it
  (`StreamResponse.pace()`, after their first token) are open on the pool, or the event loop
  runs late, a paced answer's socket is read once a tick: a read holds the socket
  (transport.pause_reading) until the pool's next tick, so what the server sends meanwhile waits
  in the kernel; at the tick every held socket is read again and, once those reads are in (a
  millisecond later, FLUSH_S), each reader with something new is woken and handles all of it
  (parsed, sent on as one event) in one go. The costs per read (the loop's poll and recv, the
  protocol and parser callbacks) and per event (a task step, the event, the socket frame and its
  syscall) are most of a streamed token's, so at several thousand tokens a second this is what
  keeps the process ahead of the streams, with every token on its way within `pace_s`. When
  pacing stops (the load fell), every held socket is read and its reader woken at once;
- idle connections are kept per event loop and origin for KEEPALIVE_S, below the 5 s idle
  timeout of uvicorn and vLLM, so a connection the server is about to close is never reused;
- TLS through the event loop, verified against certifi's CA bundle (httpx's);
- with an `egress` policy (every tenant-configured endpoint), the host is resolved and vetted
  by apps.serving.egress.EgressPolicy and the connection goes to the vetted address (TLS still
  checks the name); such connections are pooled apart from unvetted ones (the instance's own
  model servers), so a vetted call never reuses a connection that was not vetted.

Failures are the standard exceptions: `ConnectionError` (an `OSError`) for a refused, dropped
or malformed exchange, `TimeoutError` for a connect or read timeout. A header with a line break
is refused before anything is sent (`HeaderError`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httptools

if TYPE_CHECKING:
    from apps.serving.egress import EgressPolicy

KEEPALIVE_S = 4.0
MAX_IDLE_PER_ORIGIN = 512
HIGH_WATER = 1 << 20  # bytes buffered for a reader that falls behind before the socket pauses
LOW_WATER = 1 << 18
MAX_ERROR_BODY = 1 << 16  # what `read` keeps of a body it is asked for whole (an error answer)
DIRECT_READ = 1 << 18  # the most a pacer tick reads of a held socket at once (the rest: next tick)

Origin = tuple[str, str, int, bool]  # scheme, host, port, vetted by an egress policy

_ssl_context: ssl.SSLContext | None = None


def default_ssl_context() -> ssl.SSLContext:
    """Verified TLS against certifi's bundle, built once (loading the bundle takes ~60 ms)."""
    global _ssl_context  # noqa: PLW0603  (a process-wide cache, built once)
    if _ssl_context is None:
        import certifi

        _ssl_context = ssl.create_default_context(cafile=certifi.where())
    return _ssl_context


class HeaderError(ValueError):
    """A header name or value that would break the request (a line break, say)."""


class StreamClosed(ConnectionError):
    """The server closed the connection, or sent what is not HTTP, before the answer ended."""


class Pacer:
    """Reads the sockets of paced answers once a tick, every `interval` seconds, while the
    process is busy: at least `streams` such answers open, or its event loop behind (a timer due
    every WATCH_S ran more than two intervals late, so readers already waited longer than two
    ticks: then for HOLD_S; a single short stall of a loop that keeps up does not start it).

    While pacing, a read of a paced answer holds its socket (no further reads) and queues it for
    the next tick. The tick reads every queued socket again; FLUSH_S later, when those reads are
    in, it wakes their readers (each takes what it got since its last wake, in one piece) and
    queues for the next tick the sockets that read something (held again). Otherwise, or with an
    interval of 0, nothing is held and every read wakes its reader. One tick timer per pool,
    armed only while a socket is queued; one watch timer, only while a paced answer is open.

    The tick stretches with the loop's lag: while the watch finds the loop late by more than
    half a tick, the tick grows by a quarter, up to MAX_STRETCH times `interval` (fewer, larger
    events from a process that cannot keep up); while it is on time, the tick shrinks back.

    Once the loop has run late (by half an interval, at a watch; then for HOLD_S), the tick is
    also sized by the load: from LOAD_FROM times `streams` paced answers open, linearly, to
    `longest` (the default: MAX_LOAD_STRETCH intervals) at LOAD_FULL times `streams` (60 ms up to
    500 answers, 120 ms from
    600 at the defaults). Most of a streamed token's cost is per event, so a process with many
    streams that cannot keep up at the short tick goes straight to fewer, fuller events, instead
    of creeping up a quarter per watch and dropping back the moment it is on time (and behind
    again): a tick is a gap, bounded; a process behind its streams gives gaps of whatever its
    backlog is. The longer of the two stretches is the tick. A process that keeps up keeps the
    short tick, however many streams it has."""

    WATCH_S = 0.25
    HOLD_S = 2.0
    FLUSH_S = 0.001  # from reading the held sockets again to waking their readers
    MAX_STRETCH = 5 / 3  # the longest tick for a late loop, in intervals (100 ms at the default 60 ms)
    LOAD_FROM = 1.25  # paced answers open, in `streams`, from which the tick grows with the load
    LOAD_FULL = 1.5  # ... up to MAX_LOAD_STRETCH intervals at this many
    MAX_LOAD_STRETCH = 2.0  # the longest tick for the load, in intervals (120 ms at the default 60 ms)

    def __init__(self, interval: float = 0.0, streams: int = 0, longest: float | None = None) -> None:
        self.interval = interval
        # The longest tick for the load, in intervals (`longest` seconds; at most `interval`: off).
        self.max_load = self.MAX_LOAD_STRETCH if longest is None or interval <= 0 else max(1.0, longest / interval)
        self.threshold = max(1, streams)
        self.open = 0  # paced answers open now
        self.active = False  # pacing now
        self.behind_until = 0.0  # the loop was late lately: pace until then
        self.reads = 0  # reads of paced answers while pacing (the tests and benches read it)
        self.direct_reads = 0  # of those, the tick's own reads of a held socket (_read_direct)
        self.relayed = 0  # reads handled whole by a reader's text relay (the tests and benches read it)
        self.stretch = 1.0  # the tick for the loop's lag, in intervals (see MAX_STRETCH)
        self.loaded_until = 0.0  # the loop was late lately: the tick is sized by the load until then
        self.loaded = False
        self._queued: list[_Connection] = []  # held, for the next tick
        self._flushing: list[_Connection] = []  # read again at the last tick, to be woken
        self._handle: asyncio.TimerHandle | None = None
        self._flush: asyncio.TimerHandle | None = None
        self._watch: asyncio.TimerHandle | None = None

    def load_stretch(self) -> float:
        """The tick for the paced answers open now, in intervals (1.0 below LOAD_FROM, or while
        the loop has kept up)."""
        start = self.LOAD_FROM * self.threshold
        if not self.loaded or self.open <= start:
            return 1.0
        span = (self.LOAD_FULL - self.LOAD_FROM) * self.threshold
        return min(self.max_load, 1.0 + (self.max_load - 1.0) * (self.open - start) / span)

    def tick_s(self) -> float:
        """The time from a socket's hold to the tick that reads it again."""
        return self.interval * max(self.stretch, self.load_stretch())

    def opened(self, change: int, loop: asyncio.AbstractEventLoop) -> None:
        self.open += change
        self._update(loop.time())
        if self.open > 0 and self._watch is None and self.interval > 0:
            self._watch = loop.call_later(self.WATCH_S, self._watched, loop, loop.time() + self.WATCH_S)

    def _watched(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        now = loop.time()
        late = now - due
        if late > 2 * self.interval:
            self.behind_until = now + self.HOLD_S
        if late > self.interval / 2:
            self.loaded_until = now + self.HOLD_S
        self.loaded = now < self.loaded_until
        if late > self.tick_s() / 2:
            self.stretch = min(self.MAX_STRETCH, self.stretch * 1.25)
        elif late < self.interval / 4:
            self.stretch = max(1.0, self.stretch / 1.25)
        self._update(now)
        self._watch = loop.call_later(self.WATCH_S, self._watched, loop, now + self.WATCH_S) if self.open else None

    def _update(self, now: float) -> None:
        self.active = self.interval > 0 and (self.open >= self.threshold or now < self.behind_until)
        if not self.active and (self._queued or self._flushing):
            self.release()

    def release(self) -> None:
        """Pacing stopped: every socket read again and every reader woken, now."""
        for handle in (self._handle, self._flush):
            if handle is not None:
                handle.cancel()
        self._handle = self._flush = None
        connections = self._queued + self._flushing
        self._queued, self._flushing = [], []
        for connection in connections:
            connection.unpace()

    def queue(self, connection: _Connection) -> None:
        """Hold `connection`'s socket and read it again at the next tick."""
        connection.queued = True
        self._queued.append(connection)
        if self._handle is None:
            self._handle = connection.loop.call_later(self.tick_s(), self._tick, connection.loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle = None
        batch, self._queued = self._queued, []
        for connection in batch:
            if not connection.queued:
                continue
            connection.queued = False
            if connection.fd >= 0 and self._read_direct(connection):
                continue
            connection.held, connection.flushing = False, True
            connection.reading()
            self._flushing.append(connection)
        if self._flush is None and self._flushing:
            self._flush = loop.call_later(self.FLUSH_S, self._flushed)

    def _read_direct(self, connection: _Connection) -> bool:
        """The tick's read of a held plain-TCP socket, done here with one recv while the socket
        stays paused: no resume and pause of the transport (two epoll_ctl and an epoll wakeup per
        socket per tick under uvloop), no FLUSH_S timer, and the reader woken now. False when
        nothing was waiting (the model is slower than the tick), at the end of the stream or on
        an error: then the transport reads it as before and sees the end or the error itself."""
        if connection.closed or connection.paused:  # (paused: the reader is behind; let it catch up)
            return False
        try:
            data = os.read(connection.fd, DIRECT_READ)
        except OSError:  # BlockingIOError: nothing yet; anything else: the transport reports it
            data = b""
        if not data:
            if connection.chunks:
                connection._wake()
            return False
        self.reads += 1
        self.direct_reads += 1
        connection.data_received(data)  # held: on_body keeps it for the reader, wakes nobody
        if connection.held and not connection.closed and not connection.complete:
            self.queue(connection)
        if connection.chunks:
            connection._wake()
        return True

    def _flushed(self) -> None:
        self._flush = None
        batch, self._flushing = self._flushing, []
        for connection in batch:
            if not connection.flushing:
                continue
            connection.flushing = False
            if connection.held:  # read something at the tick: held again until the next one
                self.queue(connection)
            if connection.chunks:
                connection._wake()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: the transport, its parser and what the reader has not taken."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Origin, pacer: Pacer | None = None) -> None:
        self.loop = loop
        self.origin = origin
        self.pacer = pacer
        self.paced = False  # the answer now read asked to be paced (StreamResponse.pace)
        # The reader's text relay (StreamResponse.relay): what arrives while the reader waits with
        # nothing buffered is offered to it first; True: it handled those bytes (see data_received).
        self.relay: Callable[[bytes], bool] | None = None
        self.chunked = False  # the body comes in chunks (Transfer-Encoding: chunked)
        self.held = False  # the pacer holds the socket: not read now
        self.queued = False  # held, to be read again at the pacer's next tick
        self.flushing = False  # read again at the last tick: the reader is woken FLUSH_S after it
        self.transport: asyncio.Transport | None = None
        self.fd = -1  # the plain-TCP socket's descriptor, for the pacer's direct read (-1: TLS, or none)
        self.parser = httptools.HttpResponseParser(self)
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.waiter: asyncio.Future[None] | None = None
        self.status = 0
        self.headers = False  # the status line and headers are in
        self.complete = False  # the whole answer is in
        self.keep_alive = False
        self.framed = False  # the body's end is marked (a length or chunks), not the connection's close
        self.error: BaseException | None = None
        self.closed = False
        self.paused = False  # the reader fell behind (HIGH_WATER): not read until it takes
        self.reading_now = True  # the transport's reading state as this connection last set it
        self.last = loop.time()  # when the server last sent anything
        self.idle_since = 0.0

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if self.origin[0] == "http" and transport.get_extra_info("sslcontext") is None and sock is not None:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                self.fd = sock.fileno()

    def data_received(self, data: bytes) -> None:
        self.last = self.loop.time()
        relay, waiter = self.relay, self.waiter
        # The reader waits with nothing buffered: its relay may handle these bytes whole (plain
        # text of its stream, apps.serving.streaming.TextRelay); they bypass the parser, which
        # stays where it was (between two chunks). Paced, the socket is held as for a body.
        if relay is not None and not self.chunks and waiter is not None and not waiter.done() and relay(data):
            if self.pacer is not None:
                self.pacer.relayed += 1
            self._hold()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(StreamClosed(f"The server sent a malformed HTTP answer ({exc})."))

    def eof_received(self) -> bool:
        return False  # close; connection_lost says whether the answer was whole

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.headers and not self.framed and exc is None:
            self.complete = True  # a body that ends with the connection: this is its end
        if not self.complete:
            self.fail(StreamClosed("The server closed the connection before the answer ended."))
        else:
            self._wake()

    # --- httptools callbacks ---

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in (b"content-length", b"transfer-encoding"):
            self.framed = True
            if name == b"transfer-encoding" and b"chunked" in value.lower():
                self.chunked = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.headers = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.paused:
            self.paused = True
            self.reading()
        if not self._hold():
            self._wake()

    def _hold(self) -> bool:
        """While pacing, a read of a paced answer holds the socket until the tick: what comes
        next waits in the kernel; the reader waits for the tick. False: not pacing it."""
        if self.paced and self.pacer is not None and self.pacer.active:
            if not self.held:
                self.held = True
                self.pacer.reads += 1
                self.reading()
                if not self.flushing:  # (a socket read at the tick is queued when its reader wakes)
                    self.pacer.queue(self)
            return True
        return False

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake()

    # --- for the response ---

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self.close()
        self._wake()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def reading(self) -> None:
        """Read the socket unless the reader fell behind or the pacer holds it (one place sets
        the transport's state, so a held socket never resumes for a reader that caught up)."""
        want = not (self.paused or self.held)
        if want != self.reading_now and self.transport is not None and not self.closed:
            self.reading_now = want
            if want:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    def unpace(self) -> None:
        """Nothing held any more: read the socket and wake the reader if it has something."""
        self.held = self.queued = self.flushing = False
        self.reading()
        if self.chunks:
            self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until the server sends something (or the call fails)."""
        self.waiter = self.loop.create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None

    def take(self) -> bytes:
        """Everything buffered, in one piece."""
        chunks = self.chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self.paused:
            self.paused = False
            self.reading()
        return data

    def reset(self) -> None:
        """Ready for the next request on this connection."""
        self.parser = httptools.HttpResponseParser(self)
        self.status, self.headers, self.complete, self.keep_alive, self.framed = 0, False, False, False, False
        self.paced = self.held = self.queued = self.flushing = self.chunked = False
        self.relay = None
        if self.chunks:
            self.take()
        self.reading()


class _ReadTimeout:
    """Fails the call when the server has been silent for `limit` seconds. One timer, re-armed
    from the last read when it fires early: no timer work per read."""

    def __init__(self, connection: _Connection, limit: float) -> None:
        self.connection = connection
        self.limit = limit
        loop = connection.loop
        self.handle: asyncio.TimerHandle | None = loop.call_at(loop.time() + limit, self._check)

    def _check(self) -> None:
        connection = self.connection
        due = connection.last + self.limit
        # paused or held: the reader is slow, or the pacer holds the socket; not the server
        if connection.paused or connection.held or connection.loop.time() < due:
            self.handle = connection.loop.call_at(max(due, connection.loop.time() + 0.001), self._check)
            return
        self.handle = None
        connection.fail(TimeoutError(f"The server sent nothing for {self.limit:g} s."))

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class StreamResponse:
    """An answer being read. `chunk()` until it returns None; `close()` (or `async with`) always."""

    def __init__(self, pool: HttpPool, connection: _Connection, timeout: _ReadTimeout | None) -> None:
        self.pool = pool
        self.connection = connection
        self.timeout = timeout
        self.status = connection.status
        self.paced = False

    def pace(self) -> None:
        """From now on this answer's reads may wait for the pool's next tick (see `Pacer`): for
        a reader that has what it needed at once (a stream's first token)."""
        connection = self.connection
        if not self.paced and connection.pacer is not None and connection.pacer.interval > 0:
            self.paced = connection.paced = True
            connection.pacer.opened(1, connection.loop)

    async def chunk(self) -> bytes | None:
        """The body read since the last call (waiting only when there is none), None at its end."""
        connection = self.connection
        while not connection.chunks:
            if connection.error is not None:
                raise connection.error
            if connection.complete:
                return None
            # connection.wait() inline: this runs once per streamed token, and a coroutine per
            # wait was a frame built and torn down each time.
            waiter = connection.waiter = connection.loop.create_future()
            try:
                await waiter
            finally:
                connection.waiter = None
        return connection.take()

    def take(self) -> bytes | None:
        """`chunk()` without the coroutine, for the per-event loop of a stream's reader: what is
        buffered now, b"" when nothing is (then await `arrival()` and take again), None at the
        body's end. One frame less built and resumed per event (issue 15)."""
        connection = self.connection
        if connection.chunks:
            return connection.take()
        if connection.error is not None:
            raise connection.error
        return None if connection.complete else b""

    def relay(self, feed: Callable[[bytes], bool] | None) -> bool:
        """Offer what arrives while the reader waits with nothing buffered to `feed` first (the
        reader's text relay; None: no more). The raw bytes of a chunked body, from a chunk's
        start: `feed` handles them whole (True) or not at all (False: parsed as usual). False
        when this answer cannot be relayed (not chunked, or the pool's relay is off)."""
        connection = self.connection
        if feed is not None and not (connection.chunked and self.pool.relay_text):
            connection.relay = None
            return False
        connection.relay = feed
        return feed is not None

    def arrival(self) -> asyncio.Future[None]:
        """A future done when the server sends something (or the call fails); await it directly."""
        connection = self.connection
        waiter = connection.waiter = connection.loop.create_future()
        return waiter

    async def read(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """The rest of the body, up to `limit` bytes (the rest is read and dropped)."""
        parts: list[bytes] = []
        size = 0
        while (data := await self.chunk()) is not None:
            if size < limit:
                parts.append(data[: limit - size])
                size += len(parts[-1])
        return b"".join(parts)

    def close(self) -> None:
        """Back to the pool if the answer was read whole and the server keeps the connection."""
        if self.timeout is not None:
            self.timeout.cancel()
        connection = self.connection
        connection.relay = None
        if self.paced:
            self.paced = connection.paced = False
            if connection.held or connection.flushing:  # an idle connection is read: a close is seen at once
                connection.unpace()
            if connection.pacer is not None:
                connection.pacer.opened(-1, connection.loop)
        if connection.complete and connection.keep_alive and connection.error is None and not connection.closed:
            self.pool.release(connection)
        else:
            connection.close()

    async def __aenter__(self) -> StreamResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


async def _vetted(egress: EgressPolicy, host: str, port: int) -> str:
    """The address `egress` lets this connection go to. A refusal stays EgressRefused (a code of
    its own); a name that does not resolve is a connection failure like any other (OSError)."""
    from flows.errors import EgressRefused

    try:
        return await egress.resolve(host, port)
    except EgressRefused as refused:
        if refused.code == "egress_refused":
            raise
        raise ConnectionError(refused.message) from None


class HttpPool:
    """Keep-alive connections of one event loop, per origin."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        keepalive_s: float = KEEPALIVE_S,
        *,
        pace_s: float = 0.0,
        pace_streams: int = 0,
        pace_longest_s: float | None = None,
        relay_text: bool = True,
    ) -> None:
        self.ssl_context = ssl_context
        self.relay_text = relay_text  # readers may relay plain text past the parser (StreamResponse.relay)
        self.keepalive_s = keepalive_s
        self.pacer = Pacer(pace_s, pace_streams, pace_longest_s)
        self.idle: dict[Origin, list[_Connection]] = {}
        self.opened = 0  # connections made (the tests read these two)
        self.reused = 0
        self._targets: dict[str, tuple[Origin, bytes]] = {}

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        egress: EgressPolicy | None = None,
    ) -> StreamResponse:
        """POST `body` to `url`; returns once the answer's status and headers are in. With
        `egress`, a new connection goes only to an address the policy vetted (EgressRefused)."""
        (scheme, host, port, _), start = self._target(url)
        origin = (scheme, host, port, egress is not None)
        head = [start, b"Content-Length: %d\r\n" % len(body)]
        for name, value in headers.items():
            if any(c in name or c in value for c in "\r\n\0") or ":" in name:
                raise HeaderError(f"The header {name!r} holds a character that HTTP does not allow there.")
            head.append(f"{name}: {value}\r\n".encode("latin-1", "replace"))
        head.append(b"\r\n")
        connection = self._idle_connection(origin)
        if connection is None:
            connection = await self._connect(origin, connect_timeout, egress)
        timeout = _ReadTimeout(connection, read_timeout) if read_timeout else None
        response = StreamResponse(self, connection, timeout)
        try:
            connection.last = connection.loop.time()
            if connection.transport is None or connection.closed:
                raise StreamClosed("The connection to the server closed before the request went out.")
            connection.transport.write(b"".join(head) + body)
            while not connection.headers:
                if connection.error is not None:
                    raise connection.error
                await connection.wait()
        except BaseException:
            response.close()
            raise
        response.status = connection.status
        return response

    def _target(self, url: str) -> tuple[Origin, bytes]:
        """The origin and request line + Host header of a URL (cached: every call repeats them)."""
        known = self._targets.get(url)
        if known is not None:
            return known
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Not an http(s) URL: {url!r}")
        default = 443 if scheme == "https" else 80
        port = parts.port or default
        host = parts.hostname
        host_header = f"[{host}]" if ":" in host else host
        if port != default:
            host_header += f":{port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        start = f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\n".encode("ascii")
        if len(self._targets) > 1024:
            self._targets.clear()
        known = self._targets[url] = ((scheme, host, port, False), start)
        return known

    def _idle_connection(self, origin: Origin) -> _Connection | None:
        idle = self.idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.closed and connection.loop.time() - connection.idle_since < self.keepalive_s:
                connection.reset()
                self.reused += 1
                return connection
            connection.close()
        return None

    async def _connect(self, origin: Origin, timeout: float | None, egress: EgressPolicy | None) -> _Connection:
        scheme, host, port, _ = origin
        loop = asyncio.get_running_loop()
        tls = (self.ssl_context or default_ssl_context()) if scheme == "https" else None
        async with asyncio.timeout(timeout):
            # Resolved once and vetted: the connection goes to that very address (no rebinding).
            address = host if egress is None else await _vetted(egress, host, port)
            _, connection = await loop.create_connection(
                lambda: _Connection(loop, origin, self.pacer),
                address,
                port,
                ssl=tls,
                server_hostname=host if tls else None,
            )
        self.opened += 1
        return connection

    def release(self, connection: _Connection) -> None:
        idle = self.idle.setdefault(connection.origin, [])
        # The oldest go first when there are too many; the newest are reused first.
        if len(idle) >= MAX_IDLE_PER_ORIGIN:
            idle.pop(0).close()
        connection.idle_since = connection.loop.time()
        idle.append(connection)

    def close(self) -> None:
        """Close every idle connection (a closed loop's transports are simply dropped)."""
        for idle in self.idle.values():
            for connection in idle:
                with contextlib.suppress(Exception):
                    connection.close()
        self.idle.clear()
