"""An exact-match cache of model answers, per organization, alias and parameters, with a TTL.

Off unless an endpoint sets `cache_ttl_s`; used only for calls at temperature 0 without tools,
and only through a metered gateway (which knows the organization: the key starts with it, so
one tenant never reads another's answer). An answer is stored only when its stream ended
normally; an error, a cancel or a tool call stores nothing. The store is this process's memory
(bounded, least recently used first): a hit costs a dictionary lookup, never a network trip.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from langchain_core.messages import BaseMessage

MAX_ENTRIES = 5000
MAX_ANSWER_CHARS = 100_000


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    input_tokens: int
    output_tokens: int
    expires: float


class AnswerCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedAnswer] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(
        organization_id: str,
        alias: str,
        params: dict[str, Any],
        messages: Sequence[BaseMessage],
    ) -> str:
        """The exact request: organization, alias, parameters and the messages (type, content)."""
        payload = orjson.dumps(
            [organization_id, alias, params, [(m.type, m.content) for m in messages]],
            option=orjson.OPT_SORT_KEYS,
            default=str,
        )
        return hashlib.sha256(payload).hexdigest()

    def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: str, text: str, input_tokens: int, output_tokens: int, ttl_s: float) -> None:
        if ttl_s <= 0 or len(text) > MAX_ANSWER_CHARS:
            return
        entry = CachedAnswer(text, input_tokens, output_tokens, time.monotonic() + ttl_s)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


ANSWERS = AnswerCache()
