"""The model streams' HTTP client (apps/serving/httpstream.py) against real sockets: scripted
servers for each framing, keep-alive, failures, timeouts, back-pressure and TLS."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import itertools
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apps.serving.httpstream import HIGH_WATER, HeaderError, HttpPool, StreamClosed, StreamResponse
from tests.support.asgi_server import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    return head, await reader.readexactly(length)


@asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[tuple[str, list[int]]]:
    """A server on a free port running `handler` per connection: its origin and a list that
    counts the connections it accepted."""
    accepted: list[int] = []

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", accepted
    finally:
        server.close()


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)


async def keeps(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers "ok" to every request on the connection, keeping it open."""
    while True:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


async def test_a_chunked_body_arrives_as_it_is_sent() -> None:
    """The reader has the first piece while the server still holds the second."""
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, body = await read_request(reader)
        assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:")
        assert body == b'{"q":1}'
        writer.write(CHUNKED_HEAD + chunked(b"data: one\n\n"))
        await release.wait()
        writer.write(chunked(b"data: two\n\n") + b"0\r\n\r\n")
        await reader.read()  # keep the connection open until the client closes it

    pool = HttpPool()
    url = "/v1/chat/completions"
    async with serving(handler) as (origin, _), await pool.post(f"{origin}{url}", b'{"q":1}', {"X-T": "1"}) as response:
        assert response.status == 200
        assert await response.chunk() == b"data: one\n\n"
        release.set()
        assert await response.chunk() == b"data: two\n\n"
        assert await response.chunk() is None
    pool.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world",  # the body ends with the connection
        CHUNKED_HEAD + chunked(b"hello", b" world") + b"0\r\n\r\n",
    ],
    ids=["content-length", "until-close", "chunked"],
)
async def test_every_framing_of_a_body_reads_whole(answer: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer)
        if b"Connection: close" in answer:
            await writer.drain()
            writer.close()
            return
        await reader.read()

    pool = HttpPool()
    async with serving(handler) as (origin, _), await pool.post(f"{origin}/x", b"", {}) as response:
        assert await response.read() == b"hello world"
    pool.close()


async def test_a_connection_is_reused_only_while_the_server_keeps_it() -> None:
    async def closes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    for handler, expected in ((keeps, 1), (closes, 3)):
        pool = HttpPool()
        async with serving(handler) as (origin, accepted):
            for _ in range(3):
                async with await pool.post(f"{origin}/x", b"{}", {}) as response:
                    assert await response.read() == b"ok"
        assert (len(accepted), pool.opened, pool.reused) == (expected, expected, 3 - expected)
        pool.close()


async def test_an_idle_connection_past_the_keepalive_is_not_reused() -> None:
    pool = HttpPool(keepalive_s=0.05)
    async with serving(keeps) as (origin, accepted):
        for _ in range(2):
            async with await pool.post(f"{origin}/x", b"{}", {}) as response:
                await response.read()
            await asyncio.sleep(0.1)
    assert (len(accepted), pool.reused) == (2, 0)
    pool.close()


async def test_a_server_that_closes_mid_body_is_an_error_and_its_connection_is_dropped() -> None:
    async def dies(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(CHUNKED_HEAD + chunked(b"data: one\n\n"))
        await writer.drain()
        writer.transport.abort()

    pool = HttpPool()
    async with serving(dies) as (origin, _), await pool.post(f"{origin}/x", b"{}", {}) as response:
        assert await response.chunk() == b"data: one\n\n"
        with pytest.raises(StreamClosed, match="before the answer ended"):
            await response.chunk()
    assert pool.idle == {}
    pool.close()


async def test_a_silent_server_times_out_within_the_read_timeout() -> None:
    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(CHUNKED_HEAD + chunked(b"data: one\n\n"))
        await reader.read()

    pool = HttpPool()
    loop = asyncio.get_running_loop()
    async with serving(stalls) as (origin, _), await pool.post(f"{origin}/x", b"{}", {}, read_timeout=0.3) as response:
        assert await response.chunk() == b"data: one\n\n"
        started = loop.time()
        with pytest.raises(TimeoutError, match=r"nothing for 0\.3 s"):
            await response.chunk()
        assert 0.2 < loop.time() - started < 1.0
    assert pool.idle == {}

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()

    async with serving(mute) as (origin, _):  # headers that never come time out the same way
        with pytest.raises(TimeoutError):
            await pool.post(f"{origin}/x", b"{}", {}, read_timeout=0.2)
    assert pool.idle == {}
    pool.close()


async def test_steady_data_outlasts_a_short_read_timeout() -> None:
    async def trickles(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(CHUNKED_HEAD)
        for _ in range(8):
            await asyncio.sleep(0.05)
            writer.write(chunked(b"x"))
        writer.write(b"0\r\n\r\n")
        await reader.read()

    pool = HttpPool()
    async with serving(trickles) as (origin, _), await pool.post(f"{origin}/x", b"{}", {}, read_timeout=0.15) as r:
        assert await r.read() == b"x" * 8  # 0.4 s in all, never 0.15 s silent
    pool.close()


async def test_refused_and_malformed_are_connection_errors() -> None:
    pool = HttpPool()
    with pytest.raises(ConnectionRefusedError):
        await pool.post(f"http://127.0.0.1:{free_port()}/x", b"{}", {})

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await reader.read()

    async with serving(garbage) as (origin, _):
        with pytest.raises(StreamClosed, match="malformed"):
            await pool.post(f"{origin}/x", b"{}", {})
    pool.close()


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    pool = HttpPool()
    async with serving(read_request) as (origin, accepted):  # type: ignore[arg-type]
        with pytest.raises(HeaderError):
            await pool.post(f"{origin}/x", b"{}", {"Authorization": "Bearer k\r\nX-Evil: 1"})
    assert (accepted, pool.opened) == ([], 0)
    pool.close()


async def test_a_reader_cancelled_mid_body_does_not_return_its_connection() -> None:
    async def streams(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(CHUNKED_HEAD + chunked(b"first"))
            await asyncio.sleep(30)

    pool = HttpPool()
    async with serving(streams) as (origin, accepted):
        response = await pool.post(f"{origin}/x", b"{}", {})
        assert await response.chunk() == b"first"
        reading = asyncio.ensure_future(response.chunk())
        await asyncio.sleep(0.05)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        response.close()
        assert pool.idle == {}
        async with await pool.post(f"{origin}/x", b"{}", {}) as again:
            assert await again.chunk() == b"first"
            assert len(accepted) == 2
    pool.close()


async def test_a_reader_that_falls_behind_pauses_the_socket() -> None:
    size = 8 * HIGH_WATER

    async def floods(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size // 65536):
            writer.write(b"z" * 65536)
            await writer.drain()
        await reader.read()

    pool = HttpPool()
    async with serving(floods) as (origin, _), await pool.post(f"{origin}/x", b"{}", {}) as response:
        await asyncio.sleep(0.3)  # the server could send it all; the client reads none of it
        connection = response.connection
        assert connection.paused and connection.buffered < 2 * HIGH_WATER
        total = 0
        while (data := await response.chunk()) is not None:
            total += len(data)
        assert total == size
    pool.close()


# --- TLS --------------------------------------------------------------------------------------


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_https_is_verified(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    async def answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")
        await writer.drain()

    async with serving(answers, tls=server_tls) as (origin, _):
        trusting = HttpPool(ssl_context=ssl.create_default_context(cafile=str(cert)))
        async with await trusting.post(f"{origin}/x", b"{}", {}) as response:
            assert await response.read() == b"secret"
        trusting.close()
        default = HttpPool()  # certifi's CAs: a self-signed server is refused
        with pytest.raises(ssl.SSLCertVerificationError):
            await default.post(f"{origin}/x", b"{}", {})
        default.close()


async def _paced_reads(pool: HttpPool, origin: str, pieces: int) -> tuple[list[bytes], list[float]]:
    """Read a paced answer: what each `chunk()` returned and when (the first read unpaced)."""
    loop = asyncio.get_running_loop()
    reads: list[bytes] = []
    at: list[float] = []
    async with await pool.post(f"{origin}/x", b"", {}) as response:
        while (data := await response.chunk()) is not None:
            reads.append(data)
            at.append(loop.time())
            if len(reads) == 1:
                response.pace()
    assert b"".join(reads) == b"".join(b"t%d;" % i for i in range(pieces))
    return reads, at


def _trickle(pieces: int, every: float) -> Handler:
    """A chunked answer of `pieces` small pieces, one every `every` seconds."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(CHUNKED_HEAD)
        for i in range(pieces):
            writer.write(chunked(b"t%d;" % i))
            await writer.drain()
            await asyncio.sleep(every)
        writer.write(b"0\r\n\r\n")
        await reader.read()

    return handler


async def test_under_load_paced_reads_are_woken_together_every_tick() -> None:
    """With the pool pacing (as many paced answers open as its threshold), pieces sent every
    10 ms reach the reader in a few reads, at most one tick (0.1 s) late; every byte, in order."""
    pool = HttpPool(pace_s=0.1, pace_streams=1)
    async with serving(_trickle(30, 0.01)) as (origin, _):
        reads, at = await _paced_reads(pool, origin, 30)
    assert len(reads) <= 8, reads  # ~0.3 s of pieces, a read per tick (unpaced: ~30 reads)
    assert max(b - a for a, b in itertools.pairwise(at[1:])) < 0.25
    assert pool.pacer.open == 0  # the closed answer no longer counts
    pool.close()


async def test_below_the_threshold_every_read_wakes_the_reader() -> None:
    pool = HttpPool(pace_s=0.1, pace_streams=2)  # one answer open: not paced
    async with serving(_trickle(10, 0.02)) as (origin, _):
        reads, _at = await _paced_reads(pool, origin, 10)
    assert len(reads) >= 8, reads
    pool.close()


async def test_a_loop_that_runs_late_paces_below_the_threshold() -> None:
    """One paced answer open (threshold 100), but the loop is held up past the watch's lag: the
    pool paces for a while, then, with the loop on time again, stops."""
    pool = HttpPool(pace_s=0.05, pace_streams=100)
    pacer = pool.pacer
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(CHUNKED_HEAD + chunked(b"first"))
        await release.wait()
        writer.write(b"0\r\n\r\n")
        await reader.read()

    async with serving(handler) as (origin, _), await pool.post(f"{origin}/x", b"", {}) as response:
        assert await response.chunk() == b"first"
        response.pace()
        assert not pacer.active
        await asyncio.sleep(0.05)
        time.sleep(pacer.WATCH_S + 0.1)  # the loop is busy: the watch fires late
        await asyncio.sleep(0.05)
        assert pacer.active
        deadline = time.monotonic() + pacer.HOLD_S + 10  # (a busy test machine may run late too)
        while pacer.active and time.monotonic() < deadline:
            await asyncio.sleep(pacer.WATCH_S)
        assert not pacer.active  # on time again
        release.set()
        assert await response.chunk() is None
    assert pacer.open == 0
    pool.close()


async def _paced_pair(pool: HttpPool, origin: str) -> tuple[StreamResponse, StreamResponse]:
    """Two paced answers open on `pool`, each past its first read."""
    first = await pool.post(f"{origin}/x", b"", {})
    second = await pool.post(f"{origin}/x", b"", {})
    for response in (first, second):
        assert await response.chunk() == b"t0;"
        response.pace()
    return first, second


async def test_under_load_a_paced_socket_is_read_once_a_tick() -> None:
    """While pacing, a read holds the socket: what the server sends next waits in the kernel
    until the tick, when it is read in one go and the reader woken once. Pieces sent every 5 ms
    come in a few reads and chunks, every byte once, in order."""
    pool = HttpPool(pace_s=0.1, pace_streams=1)
    async with serving(_trickle(60, 0.005)) as (origin, _):
        reads, _at = await _paced_reads(pool, origin, 60)
    assert len(reads) <= 10, reads  # ~0.3 s of pieces, one chunk per tick (unpaced: ~60)
    assert pool.pacer.reads <= 10  # and one read per tick
    assert pool.pacer.open == 0 and not pool.pacer._queued and not pool.pacer._flushing
    pool.close()


async def test_a_held_socket_is_read_at_once_when_pacing_stops() -> None:
    """Two paced answers pace a pool whose threshold is two, with a tick far off (30 s): a piece
    read meanwhile waits for the tick, with the socket held. Once the other answer closes, pacing
    stops: the reader is woken and the socket read again at once, not at the tick."""
    pool = HttpPool(pace_s=30.0, pace_streams=2)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(CHUNKED_HEAD + chunked(b"t0;"))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(chunked(b"t1;"))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(chunked(b"t2;"))
        await writer.drain()
        await reader.read()

    async with serving(handler) as (origin, _):
        first, second = await _paced_pair(pool, origin)
        assert pool.pacer.active
        reading = asyncio.ensure_future(first.chunk())
        await asyncio.sleep(0.3)
        assert not reading.done() and first.connection.held  # t1 read and held, t2 in the kernel
        assert first.connection.chunks == deque([b"t1;"])
        second.connection.close()
        second.close()  # one paced answer open: below the threshold, pacing stops
        assert not pool.pacer.active and not first.connection.held
        got = await asyncio.wait_for(reading, 2)
        if got == b"t1;":
            got += await asyncio.wait_for(first.chunk(), 2)
        assert got == b"t1;t2;"
        first.connection.close()
        first.close()
    pool.close()


async def test_cancelling_a_reader_stops_a_held_stream_at_once() -> None:
    """A reader waiting on a held socket (tick 30 s away) is cancelled at once, and its connection
    is closed, not kept for another call."""
    pool = HttpPool(pace_s=30.0, pace_streams=1)
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(CHUNKED_HEAD + chunked(b"t0;"))
        await writer.drain()
        await asyncio.sleep(0.05)
        for i in range(1, 4):
            writer.write(chunked(b"t%d;" % i))
            await writer.drain()
            await asyncio.sleep(0.02)
        try:
            await reader.read()  # until the client closes (a reset: it closed with t2 and t3 unread)
        finally:
            closed.set()

    async def read_all(response: StreamResponse) -> None:
        async with response:
            while await response.chunk() is not None:
                pass

    async with serving(handler) as (origin, _):
        response = await pool.post(f"{origin}/x", b"", {})
        assert await response.chunk() == b"t0;"
        response.pace()
        task = asyncio.create_task(read_all(response))
        await asyncio.sleep(0.2)  # t1 read and held, t2 and t3 in the kernel; the reader waits for the tick
        assert response.connection.held and not task.done()
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 1
        await asyncio.wait_for(closed.wait(), 2)
    assert pool.pacer.open == 0 and not any(pool.idle.values())
    pool.close()


async def test_the_tick_stretches_while_the_loop_runs_late_and_shrinks_back() -> None:
    """A paced answer open and the loop held up past half a tick at each watch: the tick grows,
    never past MAX_STRETCH intervals; with the loop on time again it comes back to the interval."""
    pool = HttpPool(pace_s=0.05, pace_streams=1)
    pacer = pool.pacer
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(CHUNKED_HEAD + chunked(b"first"))
        await release.wait()
        writer.write(b"0\r\n\r\n")
        await reader.read()

    async with serving(handler) as (origin, _), await pool.post(f"{origin}/x", b"", {}) as response:
        assert await response.chunk() == b"first"
        response.pace()
        for _ in range(6):
            time.sleep(pacer.WATCH_S + 0.1)  # the loop is busy: each watch fires late
            await asyncio.sleep(0.01)
        assert 1.0 < pacer.stretch <= pacer.MAX_STRETCH
        deadline = time.monotonic() + 10  # (a busy test machine may run late too)
        while pacer.stretch > 1.0 and time.monotonic() < deadline:
            await asyncio.sleep(pacer.WATCH_S)
        assert pacer.stretch == 1.0  # on time again
        release.set()
        assert await response.chunk() is None
    pool.close()


async def test_the_tick_grows_with_the_paced_answers_open_once_the_loop_runs_late() -> None:
    """Once the loop has run late, from LOAD_FROM times `pace_streams` paced answers open the tick
    grows linearly to MAX_LOAD_STRETCH intervals at LOAD_FULL times: a held socket of a loaded
    process is read less often (fewer, fuller events). A loop that keeps up keeps the interval."""
    pool = HttpPool(pace_s=0.05, pace_streams=4)  # the load's stretch: from 5 answers, full at 6
    pacer = pool.pacer
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(CHUNKED_HEAD + chunked(b"first"))
        while not release.is_set():  # a token every 10 ms, as a fast model
            await asyncio.sleep(0.01)
            writer.write(chunked(b"t;"))
        writer.write(b"0\r\n\r\n")
        await reader.read()

    async with serving(handler) as (origin, _):
        responses = []
        for _ in range(7):
            response = await pool.post(f"{origin}/x", b"", {})
            assert await response.chunk() == b"first"
            response.pace()
            responses.append(response)
        assert pacer.active and pacer.tick_s() == pytest.approx(0.05)  # on time: the interval
        time.sleep(pacer.WATCH_S + 0.1)  # the loop is busy: the next watch fires late
        await asyncio.sleep(0.01)
        assert pacer.loaded
        loads = []
        for count in (7, 6, 5):  # the load's stretch at 7, 6 and 5 answers open
            pacer.open = count
            loads.append(pacer.load_stretch())
        assert loads == pytest.approx([2.0, 2.0, 1.0])
        pacer.open = 11
        assert pacer.load_stretch() == 2.0  # never past MAX_LOAD_STRETCH
        pacer.open = 7
        # Seven open: one socket is read every 0.1 s, not every 0.05 s (a busy machine can only
        # make the gaps longer; the lateness stretch alone stops at MAX_STRETCH, 0.083 s).
        reader = responses[0]
        await reader.chunk()
        started = time.monotonic()
        for _ in range(4):
            assert await reader.chunk()
        assert (time.monotonic() - started) / 4 > 0.085
        release.set()
        for response in responses:
            async with response:
                while await response.chunk() is not None:
                    pass
    assert pacer.open == 0
    pool.close()


def test_the_longest_tick_for_the_load_is_a_setting() -> None:
    """`longest` (TRELLIS_STREAM_PACE_LOAD_MS) caps the load's tick; at the interval or below it
    turns the load's sizing off."""
    from apps.serving.httpstream import Pacer

    for longest, full in ((None, 2.0), (0.15, 3.0), (0.05, 1.0), (0.0, 1.0)):
        pacer = Pacer(0.05, 4, longest)
        pacer.loaded, pacer.open = True, 100
        assert pacer.load_stretch() == pytest.approx(full)
        assert pacer.tick_s() == pytest.approx(0.05 * full)


# --- the tick's direct read (issue 15) ----------------------------------------------------------


def _paced_trickle_in(
    loop_factory: Callable[[], asyncio.AbstractEventLoop], pieces: int, every: float, most_reads: float
) -> HttpPool:
    """A paced answer of `pieces` pieces read on a loop from `loop_factory` (asyncio's or uvloop's):
    the pool, after every byte arrived in order in a few reads."""
    pool = HttpPool(pace_s=0.05, pace_streams=1)

    async def main() -> None:
        async with serving(_trickle(pieces, every)) as (origin, _):
            reads, _at = await _paced_reads(pool, origin, pieces)
        assert len(reads) <= most_reads, reads
        pool.close()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())
    return pool


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_held_plain_socket_is_read_by_the_tick_itself(loop: str) -> None:
    """On both event loops the tick reads a held plain-TCP socket itself (one recv, the socket
    kept paused): every byte once, in order, woken together; nothing left queued."""
    import uvloop

    pool = _paced_trickle_in(uvloop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop, 40, 0.004, 20)
    assert pool.pacer.direct_reads >= 1
    assert pool.pacer.open == 0 and not pool.pacer._queued and not pool.pacer._flushing


def test_a_model_slower_than_the_tick_is_read_by_the_transport_again() -> None:
    """Pieces every 0.12 s with a 0.05 s tick: a tick often finds nothing waiting, hands the socket
    back to the transport, and the next piece still arrives (at once, without waiting a tick)."""
    import uvloop

    pool = _paced_trickle_in(uvloop.new_event_loop, 6, 0.12, 6)
    assert pool.pacer.direct_reads == 0 and pool.pacer.reads >= 3


async def test_a_held_tls_socket_is_never_read_around_its_transport(tmp_path: Path) -> None:
    """A TLS socket's bytes are records for the TLS layer: the tick resumes its transport instead."""
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    pool = HttpPool(ssl_context=ssl.create_default_context(cafile=str(cert)), pace_s=0.05, pace_streams=1)
    async with serving(_trickle(30, 0.004), tls=server_tls) as (origin, _):
        reads, _at = await _paced_reads(pool, origin, 30)
    assert len(reads) < 15, reads
    assert pool.pacer.reads >= 1 and pool.pacer.direct_reads == 0
    pool.close()


async def test_a_body_that_ends_with_the_connection_ends_while_held() -> None:
    """A body framed by the connection's close (no length, not chunked), read by the tick: the
    tick's empty read hands the socket back, the transport sees the close, the answer is whole."""
    pool = HttpPool(pace_s=0.05, pace_streams=1)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nt0;")
        await writer.drain()
        for i in range(1, 20):
            await asyncio.sleep(0.004)
            writer.write(b"t%d;" % i)
            await writer.drain()
        writer.close()

    async with serving(handler) as (origin, _):
        await asyncio.wait_for(_paced_reads(pool, origin, 20), 5)
    assert pool.pacer.direct_reads >= 1
    pool.close()


async def test_a_held_socket_that_falls_behind_is_not_read_past_the_high_water() -> None:
    """A reader that stops taking: the tick reads its held socket only until the buffer passes the
    high-water mark; then the socket stays paused and the server waits (back-pressure as before)."""
    pool = HttpPool(pace_s=0.02, pace_streams=1)
    piece = b"x" * 65536
    sent: list[int] = []
    go = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(CHUNKED_HEAD + chunked(b"t0;"))
        await writer.drain()
        await go.wait()
        for _ in range(200):  # 13 MB: far more than the buffer and the kernel's hold together
            writer.write(chunked(piece))
            await writer.drain()
            sent.append(1)
        writer.write(b"0\r\n\r\n")
        await reader.read()

    async with serving(handler) as (origin, _), await pool.post(f"{origin}/x", b"", {}) as response:
        assert await response.chunk() == b"t0;"
        response.pace()
        go.set()
        await asyncio.sleep(1.0)  # the reader takes nothing meanwhile
        connection = response.connection
        assert connection.paused
        assert connection.buffered <= HIGH_WATER + 2 * (1 << 18)
        assert len(sent) < 200  # the server is held back
        total = 0
        while (data := await response.chunk()) is not None:
            total += len(data)
        assert total == 200 * len(piece)  # every byte, once the reader takes again
    pool.close()
