"""Token counting for fitting prompts into context windows (flows.ports.TokenCounter).

A model Trellis serves from a folder on this host (the embedded SmolLM2, a managed deployment)
is counted with its own tokenizer: the folder's `tokenizer.json`, read with Hugging Face's
`tokenizers` (the Rust tokenizer behind transformers' fast tokenizers, without importing
transformers into the web process). Any other model gets flows.context.EstimateCounter.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from flows.context import MESSAGE_OVERHEAD, REPLY_OVERHEAD, EstimateCounter, message_text
from flows.ports import TokenCounter

logger = logging.getLogger(__name__)
ESTIMATE = EstimateCounter()


class TokenizerCounter:
    """Counts with the model's tokenizer; the chat template's role markers are counted as
    flows.context's per-message overhead (at least what SmolLM2's template adds)."""

    name = "tokenizer"

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def count(self, messages: Sequence[BaseMessage]) -> int:
        if not messages:
            return REPLY_OVERHEAD
        encodings = self.tokenizer.encode_batch([message_text(m) for m in messages], add_special_tokens=False)
        return sum(len(e.ids) + MESSAGE_OVERHEAD for e in encodings) + REPLY_OVERHEAD


@functools.lru_cache(maxsize=16)
def _tokenizer(folder: str) -> Any | None:
    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        return None
    try:
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(path))
    except Exception:  # a broken or foreign tokenizer file: estimate instead, and say so once
        logger.warning("cannot read the tokenizer at %s; estimating token counts", path, exc_info=True)
        return None


def token_counter(model_dir: str) -> TokenCounter:
    """The counter for a model served from `model_dir` ("" when not served from this host)."""
    tokenizer = _tokenizer(model_dir) if model_dir else None
    return TokenizerCounter(tokenizer) if tokenizer is not None else ESTIMATE
