"""Fitting a prompt into a model's context window, before the call.

The LLM node composes its messages from the system prompt, retrieved documents, chat history and
the prompt. When they and the answer (`max_tokens`) do not fit the model's window, it trims in
this order: the lowest-ranked documents (retrievers rank best first), then the last document it
keeps is cut at a word boundary, then the oldest history. What still does not fit fails as
ContextTooLong with a hint a person can act on. Pure logic: tokens are counted by a
`flows.ports.TokenCounter` (the model's own tokenizer where the app has one, else `EstimateCounter`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage

from flows.errors import ContextTooLong
from flows.ports import TokenCounter

# Chat templates wrap each message in role markers (`<|im_start|>user\n ... <|im_end|>\n` is 5
# tokens in SmolLM2's); the reply is opened by a few more. Counted generously on purpose.
MESSAGE_OVERHEAD = 6
REPLY_OVERHEAD = 4
# Room left unused: the counter and the server's template may disagree by a little.
SAFETY_MARGIN = 16
SAFETY_FRACTION = 0.02
MIN_TRUNCATED_WORDS = 8
# A prompt node that rendered retrieved documents into its messages leaves, on its last message,
# (documents, rerender(kept) -> messages) under this key, so the LLM node can trim those too.
REFIT_KEY = "trellis_refit"
TRUNCATION_MARK = " …"


def message_text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = [part if isinstance(part, str) else str(part.get("text", "")) for part in content]
    return "".join(parts)


class EstimateCounter:
    """A conservative estimate for models whose tokenizer the server does not share: a token per
    three bytes of UTF-8 (English BPE averages about four characters per token; one CJK character,
    three bytes, is about one token), plus the template's overhead per message."""

    name = "estimate"
    BYTES_PER_TOKEN = 3

    def count_text(self, text: str) -> int:
        return math.ceil(len(text.encode("utf-8")) / self.BYTES_PER_TOKEN)

    def count(self, messages: Sequence[BaseMessage]) -> int:
        return sum(self.count_text(message_text(m)) + MESSAGE_OVERHEAD for m in messages) + REPLY_OVERHEAD


@dataclass
class ContextFit:
    """The messages to send and what was left out to make them fit."""

    messages: list[BaseMessage]
    documents: list[Document]
    prompt_tokens: int
    window: int
    max_tokens: int
    counter: str
    original_tokens: int = 0
    documents_dropped: int = 0
    document_truncated: bool = False
    history_dropped: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def trimmed(self) -> bool:
        return bool(self.documents_dropped or self.document_truncated or self.history_dropped)

    def note(self) -> dict[str, Any]:
        """What a trace records about the fit."""
        return {
            "context_window": self.window,
            "max_tokens": self.max_tokens,
            "prompt_tokens": self.prompt_tokens,
            "tokens_trimmed": max(0, self.original_tokens - self.prompt_tokens),
            "documents_dropped": self.documents_dropped,
            "document_truncated": self.document_truncated,
            "history_dropped": self.history_dropped,
            "counter": self.counter,
        }


Compose = Callable[[list[Document], list[BaseMessage]], list[BaseMessage]]


def prompt_budget(window: int, max_tokens: int) -> int:
    """Tokens the prompt may use: the window less the answer and a safety margin."""
    return window - max_tokens - max(SAFETY_MARGIN, math.ceil(window * SAFETY_FRACTION))


def _truncate_words(text: str, words: int) -> str:
    kept = text.split()[:words]
    return " ".join(kept) + TRUNCATION_MARK


def fit_context(
    *,
    compose: Compose,
    documents: list[Document],
    history: list[BaseMessage],
    counter: TokenCounter,
    window: int,
    max_tokens: int,
    alias: str,
) -> ContextFit:
    """The largest prompt that fits `window` with `max_tokens` left for the answer.

    `compose(documents, history)` builds the messages; documents are ranked best first and
    history is oldest first. Raises ContextTooLong when even no documents and no history do not fit.
    """
    budget = prompt_budget(window, max_tokens)
    counter_name = str(getattr(counter, "name", "tokenizer"))

    def count(docs: list[Document], hist: list[BaseMessage]) -> tuple[list[BaseMessage], int]:
        messages = compose(docs, hist)
        return messages, counter.count(messages)

    messages, tokens = count(documents, history)
    fit = ContextFit(messages, documents, tokens, window, max_tokens, counter_name, original_tokens=tokens)
    if tokens <= budget:
        return fit

    def pack(hist: list[BaseMessage]) -> tuple[list[Document], bool]:
        """The most whole documents that fit beside `hist`, then the next one cut at a word
        boundary to the most words that fit (when at least a few do)."""
        low, high = 0, len(documents)
        while low < high:
            middle = (low + high + 1) // 2
            if count(documents[:middle], hist)[1] <= budget:
                low = middle
            else:
                high = middle - 1
        kept = list(documents[:low])
        if low == len(documents) or count(kept, hist)[1] > budget:
            return kept, False
        following = documents[low]
        words = following.page_content.split()
        low, high = 0, len(words)
        while low < high:
            middle = (low + high + 1) // 2
            candidate = Document(page_content=_truncate_words(following.page_content, middle))
            if count([*kept, candidate], hist)[1] <= budget:
                low = middle
            else:
                high = middle - 1
        if low < MIN_TRUNCATED_WORDS:
            return kept, False
        cut = Document(
            page_content=_truncate_words(following.page_content, low),
            metadata={**following.metadata, "truncated": True},
            id=following.id,
        )
        return [*kept, cut], True

    kept_history = list(history)
    if count([], kept_history)[1] > budget:
        # Not even without documents: the oldest history goes, one message at a time (the latest
        # turns matter most), only as far as needed; the documents then take what room is left.
        while kept_history and count([], kept_history)[1] > budget:
            kept_history.pop(0)
        messages, tokens = count([], kept_history)
        if tokens > budget:
            raise ContextTooLong(_too_long_message(alias, tokens, window, max_tokens, bool(documents)))
    kept_documents, truncated = pack(kept_history)
    messages, tokens = count(kept_documents, kept_history)
    fit.messages, fit.documents, fit.prompt_tokens = messages, kept_documents, tokens
    fit.documents_dropped = len(documents) - len(kept_documents)
    fit.document_truncated = truncated
    fit.history_dropped = len(history) - len(kept_history)
    return fit


def _too_long_message(alias: str, tokens: int, window: int, max_tokens: int, had_documents: bool) -> str:
    hints = ["shorten the prompt template or the system prompt"]
    if max_tokens >= window // 2:
        hints.insert(0, f"lower Max tokens (now {max_tokens})")
    if had_documents:
        hints.append("lower Top K")
    hints.append("pick a model with a bigger context window")
    return (
        f"The prompt does not fit model {alias!r}: it needs about {tokens} tokens, and the model's "
        f"context window of {window} tokens keeps {max_tokens} for the answer. "
        f"Try to {', '.join(hints[:-1])} or {hints[-1]}."
    )
