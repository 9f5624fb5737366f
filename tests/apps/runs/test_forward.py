"""The forwarder: a live run's events onto a socket in order, sent in the run's turn when the
socket is writable, queued behind a send that has to wait (a slow reader), stopped when the
socket is gone. The ASGI `send` here behaves like uvicorn's: it waits only while paused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from websockets.asyncio.client import connect

from apps.config.wsdirect import direct_writer
from apps.runs.forward import Forwarder
from tests.support.asgi_server import uvicorn_serving


class Socket:
    """An ASGI websocket `send` with uvicorn's flow control: waits while the peer is slow."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.sent: list[dict[str, Any]] = []
        self.gone = False
        self.suspended = 0

    async def send(self, message: dict[str, Any]) -> None:
        if not self.writable.is_set():
            self.suspended += 1
        await self.writable.wait()
        if self.gone:
            raise OSError("client disconnected")
        self.sent.append(orjson.loads(message["text"]))


class Run:
    """A LiveRun's follower API (attach replays after `after`, then pushes)."""

    def __init__(self) -> None:
        self.buffer: list[dict[str, Any]] = []
        self.followers: set[Any] = set()

    def publish(self, seq: int, kind: str = "token", text: str | None = None) -> None:
        wire = {
            "run": "r",
            "seq": seq,
            "type": kind,
            "node": None,
            "data": {"text": str(seq) if text is None else text},
        }
        self.buffer.append(wire)
        for follower in tuple(self.followers):
            follower(wire)

    def attach(self, follower: Any, after: int = 0) -> None:
        for wire in self.buffer:
            if wire["seq"] > after:
                follower(wire)
        self.followers.add(follower)

    def detach(self, follower: Any) -> None:
        self.followers.discard(follower)


async def test_writable_socket_gets_each_event_in_the_same_turn() -> None:
    socket, run, done = Socket(), Run(), []
    run.publish(1, "run.started")
    forwarder = Forwarder(socket.send, on_done=done.append)
    forwarder.follow(run)
    assert [e["seq"] for e in socket.sent] == [1]  # the buffered event, replayed at once
    run.publish(2)
    assert [e["seq"] for e in socket.sent] == [1, 2]  # no await happened: sent synchronously
    run.publish(3, "run.finished")
    assert [e["seq"] for e in socket.sent] == [1, 2, 3]
    assert done == [forwarder] and not run.followers  # the terminal event ends the following


async def test_slow_reader_keeps_order_and_catches_up() -> None:
    socket, run, done = Socket(), Run(), []
    forwarder = Forwarder(socket.send, on_done=done.append)
    forwarder.follow(run)
    run.publish(1)
    socket.writable.clear()  # the peer stopped reading: the transport is paused
    for seq in range(2, 50):
        run.publish(seq)
    run.publish(50, "run.finished")
    assert [e["seq"] for e in socket.sent] == [1]
    assert socket.suspended == 1 and done == []  # one send waits; the rest queue behind it
    socket.writable.set()
    for _ in range(100):
        await asyncio.sleep(0)
        if done:
            break
    assert [e["seq"] for e in socket.sent] == list(range(1, 51))
    assert done == [forwarder] and not run.followers


async def test_transform_drops_and_rewrites_events() -> None:
    socket, run = Socket(), Run()
    forwarder = Forwarder(
        socket.send,
        transform=lambda wire: None if wire["seq"] % 2 else {"type": wire["type"], "seq": wire["seq"]},
    )
    forwarder.follow(run)
    for seq in range(1, 6):
        run.publish(seq)
    assert socket.sent == [{"type": "token", "seq": 2}, {"type": "token", "seq": 4}]


async def test_gone_socket_stops_following_and_the_run_goes_on() -> None:
    socket, run, done = Socket(), Run(), []
    other = Socket()
    forwarder = Forwarder(socket.send, on_done=done.append)
    forwarder.follow(run)
    Forwarder(other.send).follow(run)
    run.publish(1)
    socket.gone = True
    run.publish(2)  # the send raises: this follower detaches, the other still gets everything
    run.publish(3)
    assert [e["seq"] for e in socket.sent] == [1]
    assert [e["seq"] for e in other.sent] == [1, 2, 3]
    assert done == [forwarder] and forwarder not in run.followers


async def test_close_while_a_send_waits_cancels_it() -> None:
    socket, run, done = Socket(), Run(), []
    forwarder = Forwarder(socket.send, on_done=done.append)
    forwarder.follow(run)
    socket.writable.clear()
    run.publish(1)
    run.publish(2)
    assert forwarder.drain is not None and not forwarder.drain.done()
    forwarder.close()
    await asyncio.sleep(0)
    assert forwarder.drain.cancelled() and done == [forwarder] and not run.followers
    run.publish(3)
    socket.writable.set()
    await asyncio.sleep(0)
    assert socket.sent == []


# --- frames written directly under uvicorn (apps/config/wsdirect.py) ----------------------------


def test_no_direct_writer_for_a_send_that_is_not_uvicorns() -> None:
    assert direct_writer(Socket().send) is None


@asynccontextmanager
async def uvicorn_forwarding(
    run: Run, *, deflate: bool = False
) -> AsyncIterator[tuple[str, dict[str, Any], list[bool]]]:
    """A real uvicorn server whose one WebSocket route follows `run` through a Forwarder: its
    URL, what the route saw (`direct`: its direct writer) and each direct write's answer."""
    seen: dict[str, Any] = {}
    answers: list[bool] = []
    finished = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        direct = seen["direct"] = direct_writer(send)

        def counted(data: bytes) -> bool:
            answers.append(direct(data))  # type: ignore[misc]
            return answers[-1]

        forwarder = Forwarder(send, direct=counted if direct else None, on_done=lambda _: finished.set())
        forwarder.follow(run)
        await finished.wait()
        await send({"type": "websocket.close", "code": 1000})

    async with uvicorn_serving(app, deflate=deflate) as port:
        yield f"ws://127.0.0.1:{port}/", seen, answers


async def test_direct_frames_of_every_length_reach_a_real_client_in_order() -> None:
    run = Run()
    async with uvicorn_forwarding(run) as (url, seen, answers), connect(url, compression=None) as client:
        while "direct" not in seen:
            await asyncio.sleep(0.01)
        assert seen["direct"] is not None
        sizes = [1, 100, 125, 126, 200, 65535, 65536, 200_000]
        for seq, size in enumerate(sizes, 1):
            run.publish(seq, text="é" * size)  # 2 bytes each in UTF-8: every header length
        run.publish(len(sizes) + 1, kind="run.finished")
        received = [orjson.loads(await client.recv()) for _ in range(len(sizes) + 1)]
    assert [w["seq"] for w in received] == list(range(1, len(sizes) + 2))
    assert [len(w["data"]["text"]) for w in received[:-1]] == sizes
    assert answers == [True] * (len(sizes) + 1)


async def test_a_slow_client_gets_the_asgi_path_and_every_event_in_order() -> None:
    """A reader that stops reading fills the socket: uvicorn pauses it, the direct writer says
    False, the forwarder queues behind the waiting ASGI send, and nothing is lost or reordered."""
    run = Run()
    count = 400
    async with uvicorn_forwarding(run) as (url, seen, answers), connect(url, max_size=None, compression=None) as client:
        while "direct" not in seen:
            await asyncio.sleep(0.01)
        for seq in range(1, count + 1):
            run.publish(seq, text="x" * 50_000)  # 20 MB the client is not reading yet
        run.publish(count + 1, kind="run.finished")
        received = [orjson.loads(await client.recv())["seq"] for _ in range(count + 1)]
    assert received == list(range(1, count + 2))
    assert True in answers and False in answers  # direct while writable, then the ASGI path


async def test_compression_negotiated_means_no_direct_writer_and_the_events_still_arrive() -> None:
    run = Run()
    async with uvicorn_forwarding(run, deflate=True) as (url, seen, answers), connect(url) as client:
        while "direct" not in seen:
            await asyncio.sleep(0.01)
        assert seen["direct"] is None
        run.publish(1, text="compressed " * 100)
        run.publish(2, kind="run.finished")
        received = [orjson.loads(await client.recv()) for _ in range(2)]
    assert [w["seq"] for w in received] == [1, 2] and received[0]["data"]["text"] == "compressed " * 100
    assert answers == []
