"""The forwarder: a live run's events onto a socket in order, sent in the run's turn when the
socket is writable, queued behind a send that has to wait (a slow reader), stopped when the
socket is gone. The ASGI `send` here behaves like uvicorn's: it waits only while paused."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from apps.runs.forward import Forwarder


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

    def publish(self, seq: int, kind: str = "token") -> None:
        wire = {"run": "r", "seq": seq, "type": kind, "node": None, "data": {"text": str(seq)}}
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
