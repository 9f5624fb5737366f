"""What the benchmark scripts share (run them as scripts: this folder is then on sys.path)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
import time
from collections.abc import Callable
from typing import TypeVar, cast
from urllib.parse import urlsplit

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ok(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1) as client:  # one client: each new one loads the CA bundle again
        while time.monotonic() < deadline:
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise TimeoutError(url)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- a lean WebSocket client ---------------------------------------------------------------------

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame (RFC 6455 section 5.2)."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    return head + mask + _unmask(payload, mask)


def _unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR with the repeated 4-byte mask (its own inverse), as one big-integer operation."""
    size = len(payload)
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


class WsClient(asyncio.Protocol):
    """A minimal RFC 6455 client on asyncio.Protocol: no extensions, no subprotocols.

    Costs little per message, so a benchmark's CPU goes to the server it measures. It upgrades
    with the given headers, answers pings and the server's close, reassembles fragmented messages
    and frames split across reads, and hands each whole text or binary message to on_message.
    """

    def __init__(self, host: str, path: str, headers: dict[str, str]) -> None:
        self.loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = self.loop.create_future()
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.key = base64.b64encode(os.urandom(16))
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self.key.decode()}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.buffer = b""  # an incomplete frame (or response head) carried to the next read
        self.fragments: list[bytes] = []
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the WebSocket upgrade"))
        if not self.closed.done():
            self.closed.set_result(None)
        self.on_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self.buffer and self.upgraded:  # the common case: one whole unmasked text frame
            size = len(data)
            if size > 2 and data[0] == 0x81:
                length = data[1]
                if length < 126 and size == length + 2:
                    self.on_message(data[2:])
                    return
                if length == 126 and size > 4 and size == ((data[2] << 8) | data[3]) + 4:
                    self.on_message(data[4:])
                    return
        if self.buffer:
            data, self.buffer = self.buffer + data, b""
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = data
                return
            head, data = data[:end].decode("latin-1"), data[end + 4 :]
            status, *fields = head.split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
            accept = base64.b64encode(hashlib.sha1(self.key + WS_GUID).digest()).decode()  # noqa: S324 - the protocol's
            if status.split()[1:2] != ["101"] or headers.get("sec-websocket-accept") != accept:
                self.opened.set_exception(ConnectionError(f"WebSocket upgrade refused: {status}"))
                self.transport.close()  # type: ignore[union-attr]
                return
            self.upgraded = True
            self.opened.set_result(None)
        self._frames(data)

    def _frames(self, data: bytes) -> None:
        """Every whole frame in data; a partial one waits in self.buffer for the next read."""
        pos, size = 0, len(data)
        while size - pos >= 2:
            first, second = data[pos], data[pos + 1]
            length, start = second & 0x7F, pos + 2
            if length == 126:
                if size - start < 2:
                    break
                length, start = int.from_bytes(data[start : start + 2], "big"), start + 2
            elif length == 127:
                if size - start < 8:
                    break
                length, start = int.from_bytes(data[start : start + 8], "big"), start + 8
            mask = b""
            if second & 0x80:  # servers do not mask, but tolerate it
                if size - start < 4:
                    break
                mask, start = data[start : start + 4], start + 4
            end = start + length
            if end > size:
                break
            payload = _unmask(data[start:end], mask) if mask else data[start:end]
            pos = end
            self._frame(first, payload)
        if pos < size:
            self.buffer = data[pos:]

    def _frame(self, first: int, payload: bytes) -> None:
        opcode, final = first & 0x0F, first & 0x80
        if opcode in {OP_TEXT, OP_BINARY}:
            if final:
                self.on_message(payload)
            else:
                self.fragments = [payload]
        elif opcode == OP_CONTINUATION:
            self.fragments.append(payload)
            if final:
                message, self.fragments = b"".join(self.fragments), []
                self.on_message(message)
        elif opcode == OP_PING:
            self.transport.write(ws_frame(OP_PONG, payload))  # type: ignore[union-attr]
        elif opcode == OP_CLOSE:
            if not self.closing:
                self.closing = True
                self.transport.write(ws_frame(OP_CLOSE, payload[:2]))  # type: ignore[union-attr]
            self.transport.close()  # type: ignore[union-attr]

    def send_text(self, text: str) -> None:
        self.transport.write(ws_frame(OP_TEXT, text.encode()))  # type: ignore[union-attr]

    async def close(self, timeout: float = 5) -> None:
        """The closing handshake: send a close frame, wait for the server's (or give up)."""
        if not self.closing and self.transport is not None and not self.transport.is_closing():
            self.closing = True
            self.transport.write(ws_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            if self.transport is not None:
                self.transport.abort()

    def on_message(self, payload: bytes) -> None:
        """One whole text or binary message (override)."""

    def on_lost(self, exc: Exception | None) -> None:
        """The connection is gone (override)."""


Client = TypeVar("Client", bound=WsClient)


async def ws_connect(url: str, factory: Callable[[str, str], Client], timeout: float = 60) -> Client:
    """Open ws://host:port/path with factory(host, path) as the protocol; returns once upgraded."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    _, client = await asyncio.get_running_loop().create_connection(
        lambda: factory(parts.netloc, parts.path or "/"), host, port
    )
    try:
        await asyncio.wait_for(asyncio.shield(client.opened), timeout)
    except TimeoutError:
        client.transport.abort()  # type: ignore[union-attr]
        raise ConnectionError(f"no WebSocket upgrade from {url} in {timeout} s") from None
    return client
