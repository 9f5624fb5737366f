"""The built-in model's query embedder: all-MiniLM-L6-v2 exported once to ONNX with its fp32
weights, run on ONNX Runtime at one intra-op thread.

A search query is one short text: torch spent ~10-25 ms on it (its per-call overhead dominates at
a dozen tokens), ONNX Runtime a few ms (tests/bench/bench_knowledge.py --only search). The
weights are torch's own, not quantized, so the vectors are torch's to float rounding (cosine
>= 0.9999, tests/apps/knowledge/test_query_embedder.py) and meet the chunks' vectors, which
torch keeps embedding in batches (apps.knowledge.embeddings.LocalEmbedder), in the same space.
The semantic cache's int8 export (apps.serving.question_embedder) is another vector space and is
not used here.

The export reuses apps.serving.question_embedder's (torch.onnx from the local model, nothing
downloaded) into MODEL_EXPORT_DIR/<FOLDER>/: once, from `manage.py prepare_query_embedder`
(`make setup`) or else at first use. When ONNX Runtime cannot load it, queries go through torch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from apps.serving.question_embedder import MODEL_FILE, OnnxEmbedder, export

logger = logging.getLogger(__name__)

EMBEDDER_ID = "all-minilm-l6-v2/onnx-fp32/1"  # bump when the export changes
FOLDER = "knowledge-query-minilm-onnx-fp32-v1"
THREADS = 1  # a dozen tokens: more threads only add synchronisation (and the keyword half runs beside it)

_lock = threading.Lock()
_loaded: OnnxEmbedder | None = None
_failed = False


def folder() -> Path:
    return Path(settings.MODEL_EXPORT_DIR) / FOLDER


def prepare(report: Callable[[str], object] = print) -> Path:
    """Exports the query embedder into MODEL_EXPORT_DIR unless it is there."""
    target = folder()
    if not (target / MODEL_FILE).exists():
        report(f"Exporting the knowledge search's query embedder to ONNX (fp32) in {target} (once) ...")
    with _lock:
        return export(target, quantize=False, embedder_id=EMBEDDER_ID)


def query_embedder() -> OnnxEmbedder | None:
    """The process's ONNX query embedder (exported first when it is not there yet); None when it
    cannot be exported or loaded (logged once; the caller embeds through torch)."""
    global _loaded, _failed  # noqa: PLW0603 - one model per process
    if _loaded is not None or _failed:
        return _loaded
    with _lock:
        if _loaded is None and not _failed:
            try:
                _loaded = OnnxEmbedder(export(folder(), quantize=False, embedder_id=EMBEDDER_ID), THREADS)
            except Exception:  # an optional speed-up: torch still embeds the query
                logger.exception("the ONNX query embedder is unavailable; queries are embedded with torch")
                _failed = True
    return _loaded


def embed_query(text: str) -> list[float]:
    """One query's normalised vector in the built-in model's space."""
    embedder = query_embedder()
    if embedder is None:
        from apps.knowledge.embeddings import LocalEmbedder

        return LocalEmbedder().embed([text])[0]
    return embedder.encode(text)
