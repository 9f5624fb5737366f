"""The public widget socket, /ws/widget/<public key>/.

The handshake's Origin must be one of the widget's allowed origins (a missing Origin is
refused) or, for the hosted chat page, Trellis's own origin. No cookie authentication runs
here: a visitor is who their signed session token says, and that token is bound to the
widget, its current key and the origin it was issued to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from apps.config.db import in_db_thread
from apps.config.errors import TrellisError
from apps.config.metrics import WEBSOCKETS
from apps.config.resilient_layer import ResilientLayerMixin
from apps.config.wire_errors import error_of, wire_error
from apps.runs.forward import FollowingConsumer, with_reveal
from apps.widgets.chat import chat_resume, chat_start, public_event, widget_for_session
from apps.widgets.origins import client_ip, normalize_origin
from apps.widgets.protocol import ChatFeedback, ChatResume, ChatSend, Ping, parse_widget_message
from apps.widgets.public import origin_allowed, own_origin_of_scope
from apps.widgets.selectors import widget_by_public_key
from apps.widgets.services import feedback_record
from apps.widgets.tokens import SessionInvalid, WidgetSession, session_from_token, session_token, visitor_credential
from flows.errors import FlowError

logger = logging.getLogger(__name__)
CLOSE_NOT_FOUND = 4404
CLOSE_ORIGIN = 4403
MAX_FRAME = 64 * 1024


class WidgetConsumer(ResilientLayerMixin, FollowingConsumer):
    async def connect(self) -> None:
        self.key = str(self.scope["url_route"]["kwargs"]["key"])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.scope.get("headers", [])}
        origin = headers.get("origin")
        widget = await in_db_thread(widget_by_public_key)(key=self.key)
        await self.accept()
        if widget is None:
            WEBSOCKETS.labels("refused").inc()
            await self.send_json(error_of("widget_not_found", "This chat is not available.", 404).event())
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if not origin_allowed(widget, origin, own_origin_of_scope(self.scope, headers)):
            WEBSOCKETS.labels("refused").inc()
            refused = error_of("origin_not_allowed", "This chat is not allowed on this website.", 403)
            await self.send_json(refused.event())
            await self.close(code=CLOSE_ORIGIN)
            return
        self.origin = normalize_origin(str(origin))
        self.ip = client_ip((self.scope.get("client") or [None])[0], headers)
        WEBSOCKETS.labels("accepted").inc()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if not hasattr(self, "origin"):
            return  # refused at connect
        if text_data is None or len(text_data) > MAX_FRAME:
            refused = error_of("message_too_large", f"Send JSON text frames of at most {MAX_FRAME} bytes.", 413)
            await self.send_json(refused.event())
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_json(error_of("malformed_json", "The message is not valid JSON.").event())
            return
        await self.receive_json(content)

    def _session(self, token: str) -> WidgetSession:
        session = session_from_token(token)
        if session.origin != self.origin:
            raise SessionInvalid("This chat session was issued to another website.")
        return session

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        ref = content.get("ref") if isinstance(content, dict) and isinstance(content.get("ref"), str) else None
        try:
            message = parse_widget_message(content)
            match message:
                case Ping():
                    await self.send_json({"type": "pong"})
                case ChatSend():
                    await self._send(message)
                case ChatResume():
                    show_sources, events = await chat_resume(
                        session=self._session(message.token), key=self.key, run_id=message.run, after=message.after
                    )
                    self.follow_events(events, transform=_public(show_sources))
                case ChatFeedback():
                    session = self._session(message.token)
                    await in_db_thread(self._feedback)(session, message)
                    await self.send_json({"type": "feedback.saved", "run": str(message.run)})
        except (TrellisError, FlowError) as exc:  # apps.config.wire_errors, as a visitor may read it
            await self.send_json(self.error_event(exc, ref=ref))

    def error_event(self, exc: BaseException, **extra: Any) -> dict[str, Any]:
        return wire_error(exc).public().event(**extra)

    def _feedback(self, session: WidgetSession, message: ChatFeedback) -> None:
        widget = widget_for_session(session, self.key)
        if session.visitor is None:
            raise SessionInvalid("Send a message before rating answers.")
        feedback_record(
            widget=widget,
            visitor=session.visitor,
            run_id=message.run,
            rating=1 if message.rating == "up" else -1,
            comment=message.comment,
        )

    async def _send(self, message: ChatSend) -> None:
        session = self._session(message.token)
        started = await chat_start(
            session=session,
            key=self.key,
            message=message.message,
            ip=self.ip,
            new_conversation=message.new_conversation,
        )
        accepted: dict[str, Any] = {
            "type": "chat.accepted",
            "ref": message.ref,
            "run": started.live.run_id,
            "conversation": str(started.conversation),
        }
        if started.new_visitor or session.visitor != started.visitor:
            renewed = WidgetSession(session.widget, session.key, session.origin, started.visitor)
            accepted["token"] = session_token(renewed)
            accepted["visitor"] = visitor_credential(widget=session.widget, visitor=started.visitor)
        await self.send_json(accepted)
        self.follow_live(started.live, transform=with_reveal(started.live.reveal, _public(started.show_sources)))


def _public(show_sources: bool) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    return lambda wire: public_event(wire, show_sources=show_sources)
