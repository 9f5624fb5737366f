"""A live run's events onto a WebSocket, in order, with no task per event.

The run calls a follower for every event in its own task (apps.runs.live.LiveRun.attach). The
socket's ASGI `send` is a coroutine that finishes without waiting while the connection is
writable (uvicorn waits only when the peer is slow and the transport is paused), so the
forwarder steps it right there: a streamed token goes from the model's chunk to the socket's
write in one turn of the loop. When a send does have to wait, it is handed to a task, and the
events after it queue behind it until the socket drains, so the order never changes. Under
uvicorn the frame is written onto the transport directly while the socket is open and writable
(apps.config.wsdirect): the ASGI send is the path when it is not.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from typing import Any, Protocol

from apps.config.errors import TrellisError
from apps.config.fastjson import dumps, dumps_bytes
from apps.config.wire_errors import wire_error
from apps.config.wsdirect import DirectWrite, direct_writer
from apps.config.wsjson import FastJsonWebsocketConsumer
from flows.events import TERMINAL

logger = logging.getLogger(__name__)

TERMINAL_TYPES = frozenset(str(kind) for kind in TERMINAL)
Send = Callable[[dict[str, Any]], Awaitable[None]]
Transform = Callable[[dict[str, Any]], dict[str, Any] | None]


def with_reveal(reveal: Callable[[], Transform] | None, transform: Transform | None = None) -> Transform | None:
    """What the socket that started a run shows: the run-start hooks' reveal first (a guard
    policy's placeholders mapped back to that caller's own values), then `transform`."""
    if reveal is None:
        return transform
    shown = reveal()
    if transform is None:
        return shown
    outer = transform
    return lambda wire: None if (revealed := shown(wire)) is None else outer(revealed)


class Source(Protocol):
    def attach(self, follower: Callable[[dict[str, Any]], None], after: int = 0) -> None: ...

    def detach(self, follower: Callable[[dict[str, Any]], None]) -> None: ...


class Forwarder:
    def __init__(
        self,
        send: Send,
        *,
        transform: Transform | None = None,
        on_done: Callable[[Forwarder], None] | None = None,
        direct: DirectWrite | None = None,
    ) -> None:
        self.send = send
        self.direct = direct  # writes a text frame without the ASGI send when it can (wsdirect)
        self.transform = transform
        self.on_done = on_done
        self.source: Source | None = None
        self.backlog: deque[str] | None = None  # set while a send waits: what comes after it
        self.drain: asyncio.Task[None] | None = None
        self.closed = False

    def follow(self, source: Source, after: int = 0) -> None:
        self.source = source
        source.attach(self, after)

    def __call__(self, wire: dict[str, Any]) -> None:
        if self.closed:
            return
        out = wire if self.transform is None else self.transform(wire)
        if out is not None:
            if self.backlog is not None:
                self.backlog.append(dumps(out))
            else:
                data = dumps_bytes(out)
                if self.direct is None or not self.direct(data):
                    self._send_now(data.decode())
        if wire["type"] in TERMINAL_TYPES:
            self._detach()
            if self.backlog is None:
                self._done()

    def close(self) -> None:
        """The socket went away: stop forwarding (the run goes on)."""
        self._detach()
        if self.drain is not None and not self.drain.done():
            self.drain.cancel()
        self._done()

    def _send_now(self, text: str) -> None:
        awaitable = self.send({"type": "websocket.send", "text": text})
        if isinstance(awaitable, Coroutine):
            try:
                waiting_on = awaitable.send(None)
            except StopIteration:
                return  # sent
            except Exception as exc:  # the socket is closed
                logger.debug("forwarding stopped: %r", exc)
                self.close()
                return
            awaitable = _Resumed(awaitable, waiting_on)
        self.backlog = deque()
        self.drain = asyncio.ensure_future(self._drain(awaitable))

    async def _drain(self, first: Awaitable[None]) -> None:
        try:
            await first
            while self.backlog:
                await self.send({"type": "websocket.send", "text": self.backlog.popleft()})
        except Exception as exc:
            logger.debug("forwarding stopped: %r", exc)
            self.close()
            return
        self.backlog = None
        if self.source is None:  # the terminal event went out last
            self._done()

    def _detach(self) -> None:
        if self.source is not None:
            self.source.detach(self)
            self.source = None

    def _done(self) -> None:
        if not self.closed:
            self.closed = True
            if self.on_done is not None:
                self.on_done(self)


class _Resumed:
    """Awaiting this finishes a coroutine that was stepped by hand and stopped at `waiting_on`
    (what it yielded to the event loop: a future, or None for a bare yield). The awaiting task
    waits on that same future, then steps the coroutine on, exactly as if it had run it."""

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self.coro, self.waiting_on = coro, waiting_on

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, waiting_on = self.coro, self.waiting_on
        while True:
            try:
                value = yield waiting_on
            except BaseException as exc:  # the task was cancelled: into the coroutine with it
                try:
                    waiting_on = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    waiting_on = coro.send(value)
                except StopIteration as stop:
                    return stop.value


class FollowingConsumer(FastJsonWebsocketConsumer):
    """A socket that follows runs: live ones through a Forwarder, stored ones (a resume after
    the run ended) from a task. Closing the socket stops the following; the runs go on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._forwarders: set[Forwarder] = set()
        self._pumps: set[asyncio.Task[None]] = set()
        self._direct: DirectWrite | None = None
        self._direct_known = False

    def error_event(self, exc: BaseException, **extra: Any) -> dict[str, Any]:
        """An error as this socket's error event (apps.config.wire_errors; a widget's is public)."""
        return wire_error(exc).event(**extra)

    def _direct_write(self) -> DirectWrite | None:
        if not self._direct_known:  # after the accept: the writer needs the handshake done
            self._direct, self._direct_known = direct_writer(self._raw_send()), True
        return self._direct

    def follow_live(self, live: Source, *, after: int = 0, transform: Transform | None = None) -> None:
        forwarder = Forwarder(
            self._raw_send(), transform=transform, on_done=self._forwarders.discard, direct=self._direct_write()
        )
        self._forwarders.add(forwarder)
        forwarder.follow(live, after)

    def follow_events(self, events: AsyncIterator[dict[str, Any]], *, transform: Transform | None = None) -> None:
        async def pump() -> None:
            try:
                async for wire in events:
                    out = wire if transform is None else transform(wire)
                    if out is not None:
                        await self.send_json(out)
            except TrellisError as exc:
                await self.send_json(self.error_event(exc))

        task = asyncio.create_task(pump())
        self._pumps.add(task)
        task.add_done_callback(self._pumps.discard)

    async def disconnect(self, code: int) -> None:
        for forwarder in list(self._forwarders):
            forwarder.close()
        for task in self._pumps:
            task.cancel()
