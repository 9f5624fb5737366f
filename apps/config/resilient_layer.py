"""Sockets that outlive a channel-layer outage (Redis restarted, a network blip, a read timeout).

Channels' consumer reads the channel layer and the socket side by side; when the layer's
`receive` raises, the exception ends the consumer and the browser loses its socket without a
close frame. `ResilientLayerMixin` replaces that loop's layer half with one that waits and tries
again (backing off to 5 s), so the socket and everything that does not need the layer (pings,
runs, resumes) carry on. Group memberships the consumer asked for are remembered and joined
again once the layer answers (a restarted Redis without persistence has forgotten them). The
outage is logged once per process when it starts and once when it ends, not per socket.

Put it first among the bases: `class RunConsumer(ResilientLayerMixin, FollowingConsumer)`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch

logger = logging.getLogger(__name__)
FIRST_RETRY_S = 0.2
MAX_RETRY_S = 5.0
PROBE = "layer.probe"


class _Outage:
    """One process-wide record of the layer being down, so a thousand sockets log it once."""

    since: float | None = None

    @classmethod
    def failed(cls, exc: BaseException) -> None:
        if cls.since is None:
            cls.since = time.monotonic()
            logger.warning("channel layer unavailable (%s: %s); sockets stay open and retry", type(exc).__name__, exc)
        else:
            logger.debug("channel layer still unavailable: %s", exc)

    @classmethod
    def recovered(cls) -> None:
        if cls.since is not None:
            logger.warning("channel layer available again after %.1f s", time.monotonic() - cls.since)
            cls.since = None


def _cancelled_meanwhile(exc: BaseException) -> None:
    """Raise CancelledError if this task was asked to stop while the layer call failed: the
    backend may turn the cancellation into another error (channels_redis can, in its cleanup),
    and a loop that swallowed it would keep a closed socket's consumer alive for ever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


def _retrieve(task: asyncio.Future[Any]) -> None:
    """A receive left behind by a consumer that stopped: its outcome is nobody's, say nothing."""
    if not task.cancelled():
        task.exception()


class ResilientLayerMixin:
    """For an AsyncConsumer subclass: the channel layer's failures never close the socket."""

    channel_layer_alias: str
    channel_layer: Any
    channel_name: str
    scope: Any
    base_send: Any

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # channels.consumer.AsyncConsumer.__call__, with a receive that survives the layer.
        self.scope = scope
        self.base_send = send
        self._layer_groups: set[str] = set()
        self._rejoin: asyncio.Task[None] | None = None
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        sources = [receive]
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            sources.append(self._layer_receive)
        try:
            await await_many_dispatch(sources, self.dispatch)  # type: ignore[attr-defined]
        except StopConsumer:
            pass
        finally:
            if self._rejoin is not None:
                self._rejoin.cancel()

    async def _layer_receive(self) -> dict[str, Any]:
        delay = FIRST_RETRY_S
        while True:
            receiving = asyncio.ensure_future(self.channel_layer.receive(self.channel_name))
            try:
                # Shielded: after an outage channels_redis's receive can hold on to a cancellation
                # (seen as a shutdown waiting for ever on a closed socket's consumer). The consumer
                # leaves at once; the receive is told to stop and may finish on its own.
                message: dict[str, Any] = await asyncio.shield(receiving)
            except asyncio.CancelledError:
                receiving.cancel()
                receiving.add_done_callback(_retrieve)
                raise
            except Exception as exc:  # whatever the backend raises (redis errors, OSError, timeouts)
                _cancelled_meanwhile(exc)
                _Outage.failed(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_S)
                if await self._layer_answers():
                    delay = FIRST_RETRY_S
                continue
            _Outage.recovered()
            return message

    async def _layer_answers(self) -> bool:
        """Whether the layer takes writes again; if so, rejoin the groups and say so. The probe
        comes back through receive (to `layer_probe`), which proves the read side too."""
        try:
            await self.channel_layer.send(self.channel_name, {"type": PROBE})
            for group in list(self._layer_groups):
                await self.channel_layer.group_add(group, self.channel_name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _cancelled_meanwhile(exc)
            _Outage.failed(exc)
            return False
        return True

    async def layer_probe(self, message: dict[str, Any]) -> None:
        """The probe sent after an error: its arrival is the proof, nothing to do."""

    async def layer_group_add(self, group: str) -> None:
        """Join a group now if the layer answers, else as soon as it does."""
        self._layer_groups.add(group)
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _cancelled_meanwhile(exc)
            _Outage.failed(exc)
            if self._rejoin is None or self._rejoin.done():
                self._rejoin = asyncio.create_task(self._rejoin_until_done())

    async def layer_group_discard(self, group: str) -> None:
        self._layer_groups.discard(group)
        try:
            await self.channel_layer.group_discard(group, self.channel_name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the membership expires on its own (group_expiry)
            _cancelled_meanwhile(exc)
            _Outage.failed(exc)

    async def _rejoin_until_done(self) -> None:
        delay = FIRST_RETRY_S
        while not await self._layer_answers():
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_S)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        for group in list(self._layer_groups):
            await self.layer_group_discard(group)
        await super().websocket_disconnect(message)  # type: ignore[misc]
