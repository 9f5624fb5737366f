"""The typed, sequenced event stream of a run (the WebSocket protocol carries these as JSON)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    RUN_STARTED = "run.started"
    NODE_STARTED = "node.started"
    TOKEN = "token"
    NODE_FINISHED = "node.finished"
    NODE_SKIPPED = "node.skipped"
    NODE_FAILED = "node.failed"
    RUN_FINISHED = "run.finished"
    RUN_FAILED = "run.failed"
    RUN_CANCELLED = "run.cancelled"


TERMINAL = frozenset({EventType.RUN_FINISHED, EventType.RUN_FAILED, EventType.RUN_CANCELLED})
# The member once, for the per-token paths: `EventType.TOKEN` is a lookup through the enum's class
# (~0.24 us on this machine's Python 3.11, against ~0.01 us for a module name), paid on every
# streamed token by the engine, the live run and the recorder.
TOKEN = EventType.TOKEN
_WIRE_TYPE = {kind: kind.value for kind in EventType}  # the plain str of each: str() is a call per event


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made building
# an event (one per streamed token) three times dearer. Events are never changed once emitted;
# a changed copy is dataclasses.replace (apps.runs.live's redaction).
@dataclass(slots=True)
class Event:
    seq: int
    type: EventType
    run: str
    node: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def to_wire(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "seq": self.seq,
            "type": _WIRE_TYPE.get(self.type) or str(self.type),
            "node": self.node,
            "data": self.data,
            "at": self.at,
        }


def preview(value: Any, limit: int = 400) -> Any:
    """A small JSON-safe rendering of a port value for traces and the editor."""
    from flows.values import to_text

    text = to_text(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
