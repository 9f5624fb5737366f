"""Text frames straight onto uvicorn's transport, for streamed events (docs/adr/0005, session 6).

uvicorn's ASGI `send` for a text message awaits its `writable` event, has the websockets protocol
build a `Frame`, check it, run it through the extension chain, serialize it into a BytesIO,
queue it and hand it back, then joins the queue and writes it: several microseconds of Python
per token at hundreds of streams. A text frame that goes out whole is two header bytes (four or
ten for longer payloads) before the UTF-8 payload; server frames are not masked.

`direct_writer(send)` returns a function that writes such a frame on the connection's transport
and says True, while the connection is open and writable and no extension was negotiated
(uvicorn runs with `--ws-per-message-deflate false`, as `manage.py serve` starts it). Otherwise
it says False and writes nothing, and the caller takes the ASGI path, which waits while the peer
is slow and raises once the socket is closed. For any other ASGI server, or uvicorn's other
WebSocket implementations, there is no direct writer (None) and every event takes the ASGI path.
The caller writes directly only while no ASGI send of its own is pending, so order holds.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

DirectWrite = Callable[[bytes], bool]

_TEXT_FIN = 0x81
_MEDIUM = struct.Struct("!BBH").pack
_SMALL = [bytes((_TEXT_FIN, size)) for size in range(126)]  # the header of each short frame, built once
_LONG = struct.Struct("!BBQ").pack


def direct_writer(send: Callable[..., Any]) -> DirectWrite | None:
    """A direct text-frame writer for this ASGI `send`, or None where there can be none."""
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
        from websockets.protocol import State
    except ImportError:  # another server, or another uvicorn
        return None
    protocol = getattr(send, "__self__", None)
    if type(protocol) is not WebSocketsSansIOProtocol or getattr(send, "__func__", None) is not (
        WebSocketsSansIOProtocol.send
    ):
        return None
    conn = protocol.conn
    if conn.extensions or not protocol.handshake_complete:
        logger.debug("events go through the ASGI send: an extension was negotiated or no handshake")
        return None  # a negotiated extension (compression) changes every frame
    transport = protocol.transport
    writable = protocol.writable
    is_open = State.OPEN

    def write(payload: bytes) -> bool:
        if (
            not writable.is_set()
            or protocol.close_sent
            or protocol.disconnected
            or conn.state is not is_open
            or transport.is_closing()
        ):
            return False
        size = len(payload)
        if size < 126:
            transport.write(_SMALL[size] + payload)
        elif size < 65536:
            transport.write(_MEDIUM(_TEXT_FIN, 126, size) + payload)
        else:
            transport.write(_LONG(_TEXT_FIN, 127, size) + payload)
        return True

    logger.debug("events go onto uvicorn's transport as text frames")
    return write
