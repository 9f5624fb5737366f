"""Vector (cosine, HNSW), keyword (BM25 over PostgreSQL full text, apps/knowledge/keywords.py)
and hybrid (weighted reciprocal-rank fusion of the two lists, each HYBRID_DEPTH deep) search over
one knowledge base. The API endpoint and the engine's retrieve node both call `knowledge_search`.

Tenant isolation holds inside the approximate index: every query filters the chunk table on
organization and knowledge base, and pgvector's iterative index scan (`hnsw.iterative_scan`)
keeps walking the graph until k rows pass that filter; see docs/adr/0004.

Hybrid runs its two halves at once: the keyword half on a second pooled connection in a worker
thread, the query's embedding and the vector half in the caller's thread, fused once both are
back (`_halves`). A caller inside a transaction runs them one after the other (another
connection would not see its uncommitted rows), and so does one that finds no idle worker or
pooled connection. The built-in model's query is embedded by the fp32 ONNX export of the same
model (apps.knowledge.query_embedder: torch's vectors, a few ms instead of ~20).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db import connection, transaction

from apps.config.errors import InvalidInput
from apps.knowledge.chunking import embedding_text
from apps.knowledge.embeddings import embedder_for
from apps.knowledge.keywords import Bm25Params, bm25_ranked, query_terms, search_config
from apps.knowledge.models import LOCAL_EMBEDDING_MODEL, SUPPORTED_DIMENSIONS, KnowledgeBase
from apps.knowledge.query_embedder import embed_query
from apps.knowledge.rerank import MAX_RERANK_DOCUMENTS, reranker_for

Mode = Literal["vector", "keyword", "hybrid"]
MODES: tuple[Mode, ...] = ("vector", "keyword", "hybrid")
# Fusion, tuned on tests/data/retrieval with tests/bench/bench_retrieval.py --grid (docs/BENCHMARKS.md):
# shallow lists and a small rank constant, so a chunk ranked ~10th in both lists cannot beat one
# ranked first in one (with the classic k=60 every rank 1..10 scores almost the same); BM25's list
# weighs twice the vector list's (on that set BM25 is the stronger of the two).
RRF_K = 1
HYBRID_DEPTH = 10
VECTOR_WEIGHT = 1.0
KEYWORD_WEIGHT = 2.0
PASSAGE_CHARS = 400
RERANK_TOP_N = 20
MAX_K = 50
MAX_QUERY_CHARS = 2000
MAX_SCAN_TUPLES = 50_000
# Keyword halves running beside their vector half, per process (each holds a pooled connection
# while it runs); a search that finds none free runs its halves one after the other.
HALF_WORKERS = 4


@dataclass(frozen=True)
class SearchFilters:
    documents: Sequence[str] = ()
    file_types: Sequence[str] = ()


@dataclass
class SearchHit:
    chunk_id: int
    document_id: str
    document_name: str
    file_type: str
    page: int | None
    heading_path: list[str]
    start_char: int
    end_char: int
    ordinal: int
    text: str
    score: float
    vector_rank: int | None = None
    keyword_rank: int | None = None
    title: str = ""
    anchor: str = ""
    passage: str = ""
    rerank_score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SearchResult:
    hits: list[SearchHit]
    terms: list[str]


def _where(knowledge_base: KnowledgeBase, filters: SearchFilters) -> tuple[str, list[Any]]:
    sql = "c.organization_id = %s AND c.knowledge_base_id = %s AND c.active"
    params: list[Any] = [knowledge_base.organization_id, knowledge_base.id]
    if filters.documents:
        sql += " AND c.document_id = ANY(%s::uuid[])"
        params.append(list(filters.documents))
    if filters.file_types:
        sql += " AND c.file_type = ANY(%s)"
        params.append(list(filters.file_types))
    return sql, params


def _vector_ranked(
    knowledge_base: KnowledgeBase, vector: list[float], filters: SearchFilters, limit: int
) -> list[tuple[int, float]]:
    """(chunk id, cosine similarity), best first."""
    dims = len(vector)
    if dims not in SUPPORTED_DIMENSIONS:  # also what makes the f-string below safe
        raise InvalidInput(f"Embeddings of {dims} dimensions are not supported.")
    where, params = _where(knowledge_base, filters)
    literal = "[" + ",".join(f"{x:.7g}" for x in vector) + "]"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL hnsw.iterative_scan = 'relaxed_order'")
        cursor.execute(f"SET LOCAL hnsw.ef_search = {max(40, min(1000, limit * 2))}")
        cursor.execute(f"SET LOCAL hnsw.max_scan_tuples = {MAX_SCAN_TUPLES}")
        # relaxed_order may return rows slightly out of order: re-sort the materialized candidates.
        cursor.execute(
            f"""
            WITH candidates AS MATERIALIZED (
                SELECT c.id, c.embedding::vector({dims}) <=> %s::vector({dims}) AS distance
                FROM knowledge_chunk c
                WHERE c.dims = {dims} AND {where}
                ORDER BY c.embedding::vector({dims}) <=> %s::vector({dims})
                LIMIT %s
            )
            SELECT id, 1 - distance FROM candidates ORDER BY distance, id
            """,  # noqa: S608 - dims checked against a fixed set; values are parameters
            [literal, *params, literal, limit],
        )
        return [(int(row[0]), float(row[1])) for row in cursor.fetchall()]


def _keyword_ranked(
    knowledge_base: KnowledgeBase, query: str, filters: SearchFilters, limit: int
) -> tuple[list[tuple[int, float]], list[str]]:
    """(chunk id, BM25 score in 0..1) best first, and the query's lexemes."""
    where, params = _where(knowledge_base, filters)
    return bm25_ranked(
        knowledge_base_id=knowledge_base.id,
        config=search_config(knowledge_base.language),
        params=Bm25Params(k1=knowledge_base.bm25_k1, b=knowledge_base.bm25_b),
        query=query,
        where=where,
        where_params=params,
        limit=limit,
    )


def query_vector(knowledge_base: KnowledgeBase, query: str) -> list[float]:
    """The query's vector in the knowledge base's embedding space."""
    if knowledge_base.embedding_model == LOCAL_EMBEDDING_MODEL:
        return embed_query(query)
    embedder = embedder_for(organization=knowledge_base.organization, model=knowledge_base.embedding_model)
    return embedder.embed([query])[0]


_half_workers = ThreadPoolExecutor(max_workers=HALF_WORKERS, thread_name_prefix="knowledge-keyword")
_free_workers = threading.BoundedSemaphore(HALF_WORKERS)


def _can_run_beside() -> bool:
    """Whether a keyword half can run on a connection of its own now: not inside the caller's
    transaction, and a pooled connection idle or still to be opened (a search never waits for a
    second connection while holding one)."""
    if connection.in_atomic_block:
        return False
    pool = getattr(connection, "pool", None)
    if pool is None:
        return True
    stats = pool.get_stats()
    return bool(stats.get("pool_available", 0) > 0 or stats.get("pool_size", 0) < pool.max_size)


def _halves(
    knowledge_base: KnowledgeBase, query: str, filters: SearchFilters, limit: int, concurrent: bool | None
) -> tuple[list[tuple[int, float]], list[tuple[int, float]], list[str]]:
    """Hybrid's two ranked lists and the query's lexemes: the keyword half in a worker thread
    (its own pooled connection, handed back when it ends) while this thread embeds the query and
    runs the vector half; one after the other when `concurrent` is False or they cannot run
    side by side (`_can_run_beside`)."""
    keyword: Future[tuple[list[tuple[int, float]], list[str]]] | None = None
    if concurrent is not False and _can_run_beside() and _free_workers.acquire(blocking=False):
        try:
            keyword = _half_workers.submit(_keyword_beside, knowledge_base, query, filters, limit)
        except RuntimeError:  # the executor is shut down (interpreter exit)
            _free_workers.release()
    try:
        vector_ranked = _vector_ranked(knowledge_base, query_vector(knowledge_base, query), filters, limit)
    finally:
        keyword_result = keyword.result() if keyword is not None else None  # never leave it running
    if keyword_result is None:
        keyword_result = _keyword_ranked(knowledge_base, query, filters, limit)
    keyword_ranked, terms = keyword_result
    return vector_ranked, keyword_ranked, terms


def _keyword_beside(
    knowledge_base: KnowledgeBase, query: str, filters: SearchFilters, limit: int
) -> tuple[list[tuple[int, float]], list[str]]:
    from apps.config.db import db_thread_call

    try:  # a busy or unreachable database says so, as on the caller's thread
        return db_thread_call(_keyword_ranked, knowledge_base, query, filters, limit)
    finally:
        _free_workers.release()


def _details(ids: list[int]) -> dict[int, SearchHit]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.id, c.document_id, d.name, c.file_type, c.page, c.heading_path, c.start_char, c.end_char,
                   c.ordinal, c.text, d.title, c.anchor
            FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id
            WHERE c.id = ANY(%s)
            """,
            [ids],
        )
        rows = cursor.fetchall()
    return {
        int(r[0]): SearchHit(
            chunk_id=int(r[0]),
            document_id=str(r[1]),
            document_name=r[2],
            file_type=r[3],
            page=r[4],
            heading_path=list(r[5] or []) if not isinstance(r[5], str) else _json_list(r[5]),
            start_char=r[6],
            end_char=r[7],
            ordinal=r[8],
            text=r[9],
            score=0.0,
            title=r[10] or r[2],
            anchor=r[11] or "",
        )
        for r in rows
    }


def _json_list(raw: str) -> list[str]:
    import json

    value = json.loads(raw)
    return [str(v) for v in value] if isinstance(value, list) else []


def knowledge_search(
    *,
    knowledge_base: KnowledgeBase,
    query: str,
    k: int = 4,
    mode: str = "hybrid",
    score_threshold: float | None = None,
    filters: SearchFilters | None = None,
    vector_weight: float = VECTOR_WEIGHT,
    keyword_weight: float = KEYWORD_WEIGHT,
    depth: int = HYBRID_DEPTH,
    rerank: str | None = None,
    rerank_top_n: int = RERANK_TOP_N,
    concurrent: bool | None = None,
) -> SearchResult:
    """Ranked chunks of one knowledge base (already fetched through its organization).

    Scores: vector = cosine similarity; keyword = BM25 as a share of the best the query could
    reach; hybrid = the weighted reciprocal-rank-fusion score scaled so that first place in both
    lists is 1. Each hit carries `passage`: the sentences of the chunk that hold most query terms.
    `rerank` (a model endpoint alias): the best `rerank_top_n` are scored by that cross-encoder
    (apps/knowledge/rerank.py) and the best k of them by its score are returned, each with
    `rerank_score`. `concurrent` (hybrid): run the keyword half beside the vector half (None:
    whenever it can, see `_halves`; False: one after the other; the result is the same).
    """
    query = query.strip()[:MAX_QUERY_CHARS]
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}.")
    if not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be between 1 and {MAX_K}.")
    if not query:
        return SearchResult(hits=[], terms=[])
    filters = filters or SearchFilters()
    if rerank and not 1 <= rerank_top_n <= MAX_RERANK_DOCUMENTS:
        raise InvalidInput(f"rerank_top_n must be between 1 and {MAX_RERANK_DOCUMENTS}.")
    keep = max(k, rerank_top_n) if rerank else k
    pool = keep if mode != "hybrid" else max(keep, depth)
    vector_ranked: list[tuple[int, float]] = []
    keyword_ranked: list[tuple[int, float]] = []
    terms: list[str] = []
    if mode == "hybrid":
        vector_ranked, keyword_ranked, terms = _halves(knowledge_base, query, filters, pool, concurrent)
    elif mode == "vector":
        vector_ranked = _vector_ranked(knowledge_base, query_vector(knowledge_base, query), filters, pool)
        terms = query_terms(query, search_config(knowledge_base.language))
    else:
        keyword_ranked, terms = _keyword_ranked(knowledge_base, query, filters, pool)
    scored = _fuse(mode, vector_ranked, keyword_ranked, vector_weight, keyword_weight)
    if score_threshold is not None:
        scored = [entry for entry in scored if entry[1] >= score_threshold]
    scored = scored[:keep]
    details = _details([chunk_id for chunk_id, *_ in scored])
    hits = []
    for chunk_id, score, vector_rank, keyword_rank in scored:
        hit = details[chunk_id]
        hit.score, hit.vector_rank, hit.keyword_rank = round(score, 6), vector_rank, keyword_rank
        hit.passage = matched_passage(hit.text, terms)
        hits.append(hit)
    if rerank and hits:
        reranker = reranker_for(organization=knowledge_base.organization, alias=rerank)
        texts = [embedding_text(h.text, title=h.title, heading_path=h.heading_path) for h in hits]
        for hit, value in zip(hits, reranker.scores(query, texts), strict=True):
            hit.rerank_score = round(value, 6)
        hits.sort(key=lambda h: -(h.rerank_score or 0.0))
    return SearchResult(hits=hits[:k], terms=terms)


SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
WORD = re.compile(r"\w+")


def matched_passage(text: str, terms: list[str]) -> str:
    """The shortest run of consecutive sentences of `text` (up to PASSAGE_CHARS) that holds the
    most distinct query terms (stems match word beginnings); the chunk's beginning when none does."""
    spans, begin = [], 0
    for separator in [*SENTENCE.finditer(text), None]:
        end = separator.start() if separator else len(text)
        if text[begin:end].strip():
            spans.append((begin, end))
        begin = separator.end() if separator else end
    sentences = [text[a:b] for a, b in spans]
    stems = [t.lower() for t in terms if t]
    if not sentences or not stems:
        return text[:PASSAGE_CHARS]

    def held(sentence: str) -> set[str]:
        words = [w.lower() for w in WORD.findall(sentence)]
        return {stem for stem in stems if any(w.startswith(stem) or (stem.startswith(w) and len(w) > 3) for w in words)}

    found = [held(x) for x in sentences]
    best: tuple[int, int] = (0, 0)
    best_key: tuple[int, int] = (0, 0)
    for i in range(len(sentences)):
        covered: set[str] = set()
        length = 0
        for j in range(i, len(sentences)):
            length += len(sentences[j]) + 1
            if length > PASSAGE_CHARS and j > i:
                break
            covered |= found[j]
            key = (len(covered), -length)
            if key > best_key:
                best, best_key = (i, j), key
    if not best_key[0]:
        return text[:PASSAGE_CHARS]
    return text[spans[best[0]][0] : spans[best[1]][1]].strip()[:PASSAGE_CHARS]


def _fuse(
    mode: str,
    vector_ranked: list[tuple[int, float]],
    keyword_ranked: list[tuple[int, float]],
    vector_weight: float = VECTOR_WEIGHT,
    keyword_weight: float = KEYWORD_WEIGHT,
    rrf_k: int = RRF_K,
) -> list[tuple[int, float, int | None, int | None]]:
    """(chunk id, score, rank in the vector list, rank in the keyword list), best first."""
    vector_rank = {chunk_id: i for i, (chunk_id, _) in enumerate(vector_ranked, start=1)}
    keyword_rank = {chunk_id: i for i, (chunk_id, _) in enumerate(keyword_ranked, start=1)}
    if mode == "vector":
        return [(c, s, vector_rank[c], None) for c, s in vector_ranked]
    if mode == "keyword":
        return [(c, s, None, keyword_rank[c]) for c, s in keyword_ranked]
    best = (vector_weight + keyword_weight) / (rrf_k + 1)
    fused = []
    for chunk_id in vector_rank.keys() | keyword_rank.keys():
        v, w = vector_rank.get(chunk_id), keyword_rank.get(chunk_id)
        score = (vector_weight / (rrf_k + v) if v else 0.0) + (keyword_weight / (rrf_k + w) if w else 0.0)
        fused.append((chunk_id, score / best, v, w))
    fused.sort(key=lambda entry: (-entry[1], entry[0]))
    return fused
