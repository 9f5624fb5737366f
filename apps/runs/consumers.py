"""The one WebSocket per browser tab: ping, run.start, run.cancel, run.resume.

The socket authenticates, parses, and forwards; runs belong to the process (apps.runs.live).
Every refusal is an error event with a stable code, never a silent close.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from apps.config.errors import TrellisError
from apps.config.metrics import WEBSOCKETS
from apps.config.resilient_layer import ResilientLayerMixin
from apps.config.wire_errors import error_of
from apps.knowledge import consumers as knowledge_ws
from apps.runs.forward import FollowingConsumer, with_reveal
from apps.runs.live import run_start_live
from apps.runs.principals import RunRequest, principal_of
from apps.runs.protocol import MAX_MESSAGE_BYTES, Ping, RunCancel, RunResume, RunStart, parse_client_message
from apps.runs.remote import run_cancel
from apps.runs.replay import run_resume
from apps.runs.socket_handlers import SOCKET_HANDLERS
from apps.runs.start import run_start
from apps.tenancy.access import Actor
from apps.tenancy.models import ApiKey
from flows.errors import FlowError

logger = logging.getLogger(__name__)
CLOSE_NOT_AUTHENTICATED = 4401


class RunConsumer(ResilientLayerMixin, FollowingConsumer):
    """Closing the socket stops only the forwarding: the runs go on, a reconnecting client resumes."""

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            WEBSOCKETS.labels("refused").inc()
            refused = error_of("not_authenticated", "Sign in or send an API key to open this socket.", 401)
            await self.send_json(refused.event())
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        key = self.scope.get("api_key")
        self.actor = Actor(
            user=None if isinstance(key, ApiKey) else user,
            api_key=key if isinstance(key, ApiKey) else None,
            ip=(self.scope.get("client") or [None])[0],
        )
        WEBSOCKETS.labels("accepted").inc()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None or len(text_data) > MAX_MESSAGE_BYTES:
            code = "message_too_large" if text_data else "invalid_message"
            await self.send_json(error_of(code, f"Send JSON text frames of at most {MAX_MESSAGE_BYTES} bytes.").event())
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_json(error_of("malformed_json", "The message is not valid JSON.").event())
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        ref = content.get("ref") if isinstance(content, dict) and isinstance(content.get("ref"), str) else None
        try:
            if isinstance(content, dict) and content.get("type") in knowledge_ws.MESSAGE_TYPES:
                await knowledge_ws.handle(self, content)
                return
            if isinstance(content, dict) and (handler := SOCKET_HANDLERS.get(str(content.get("type")))):
                await handler(self, content)
                return
            message = parse_client_message(content)
            match message:
                case Ping():
                    await self.send_json({"type": "pong"})
                case RunStart():
                    await self._start(message)
                case RunCancel():
                    if not await run_cancel(actor=self.actor, run_id=message.run):
                        refused = error_of("run_not_running", "That run is not running.", 409)
                        await self.send_json(refused.event(run=str(message.run)))
                case RunResume():
                    self.follow_events(run_resume(actor=self.actor, run_id=message.run, after=message.after))
        except (TrellisError, FlowError) as exc:  # a bad message, a refused or invalid run: apps.config.wire_errors
            await self.send_json(self.error_event(exc, ref=ref))

    async def knowledge_event(self, event: dict[str, Any]) -> None:
        """Channel-layer group message (apps/knowledge/realtime.py) -> the browser."""
        # "event": what the knowledge app named it (knowledge.source for a source's sync)
        await self.send_json({**event, "type": event.get("event", "knowledge.progress")})

    async def _start(self, message: RunStart) -> None:
        request = RunRequest(
            flow=message.flow, version=message.version, inputs=message.inputs, session=message.session, ref=message.ref
        )
        prepared = await run_start(principal_of(self.actor), request, early=True)
        live = run_start_live(prepared)
        self.follow_live(live, transform=with_reveal(live.reveal))
