"""Retrieval quality: hit@1, hit@5, MRR@10 and latency of vector, keyword (BM25), hybrid, and the
keyword ranking before BM25, on the repository's evaluation set (tests/data/retrieval).

    .venv/bin/python tests/bench/bench_retrieval.py [--grid] [--data-dir DIR]

Ingests the corpus (32 documents) into one knowledge base with the product's defaults (sentence
chunks of 256 tokens, 32 overlap, the local MiniLM embedding model, English) through the real
job (sandboxed parser, chunker, embedding, statistics), then asks the 197 questions, top 10 each.
Fails (exit 1) unless hybrid >= max(vector, keyword) on hit@5 and MRR@10 and BM25's MRR is at
least 0.15 above the old keyword ranking. --grid also prints hybrid for other RRF constants,
depths and keyword weights (fused from the same two 40-deep lists per question; what the defaults
in apps/knowledge/search.py were chosen from).

Uses its own TRELLIS_DATA_DIR under /tmp, removed afterwards; --data-dir keeps it and reuses the
ingested corpus on the next run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench_knowledge import make_org, setup_django  # noqa: E402


def table(rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    print(" | ".join(f"{c:>16}" for c in columns))
    for row in rows:
        print(" | ".join(f"{row[c]!s:>16}" for c in columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", action="store_true", help="also try other fusion depths and weights")
    parser.add_argument("--data-dir", type=Path, help="keep the data here and reuse the ingested corpus")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    data_dir = args.data_dir.resolve() if args.data_dir else Path(tempfile.mkdtemp(prefix="tret-", dir="/tmp"))
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"data dir {data_dir}")
    try:
        setup_django(data_dir)
        ok = run(args.grid)
    finally:
        from django.db import connections

        connections.close_all()
        from apps.config.embedded_pg import server_stop

        server_stop(data_dir / "pg")
        if not args.data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
    sys.exit(0 if ok else 1)


def run(grid: bool) -> bool:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.knowledge.ingestion import document_ingest
    from apps.knowledge.models import ACTIVE_STATUSES, Chunk, Document, KnowledgeBase
    from apps.knowledge.search import knowledge_search
    from apps.knowledge.services import document_upload, knowledge_base_create
    from tests.support import retrieval_eval as ev

    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in ev.corpus_files()]
    kb = KnowledgeBase.objects.filter(name="Evaluation corpus").first()
    if kb is None or kb.documents.filter(status="ready").count() != len(files):
        access = make_org("Retrieval bench")
        kb = knowledge_base_create(access=access, name="Evaluation corpus")
        document_upload(access=access, knowledge_base_id=kb.id, files=files)
        started = time.perf_counter()
        pending = Document.objects.filter(knowledge_base=kb, status__in=ACTIVE_STATUSES)
        results = [document_ingest(d, g) for d, g in pending.values_list("id", "generation")]
        print(f"ingested {len(files)} documents in {time.perf_counter() - started:.1f} s")
        assert set(results) == {"ready"}, results
    chunks = Chunk.objects.filter(knowledge_base=kb, active=True).count()
    print(f"knowledge base: {len(files)} documents, {chunks} chunks")
    questions = ev.questions()
    print(f"{len(questions)} questions, top {ev.DEPTH}")

    def mode(name: str, **options: Any) -> Any:
        def search(query: str) -> list[str]:
            hits = knowledge_search(knowledge_base=kb, query=query, k=ev.DEPTH, mode=name, **options).hits
            return [h.text for h in hits]

        return search

    knowledge_search(knowledge_base=kb, query="warm up", k=1, mode="hybrid")  # load the model
    scores = [
        ev.evaluate("vector", questions, mode("vector")),
        ev.evaluate("keyword (BM25)", questions, mode("keyword")),
        ev.evaluate("hybrid", questions, mode("hybrid")),
        ev.evaluate("keyword (before)", questions, lambda q: ev.legacy_keyword_texts(kb, q)),
    ]
    for kind in ("lexical", "paraphrase"):
        subset = [q for q in questions if q.kind == kind]
        for name in ("vector", "keyword", "hybrid"):
            scores.append(ev.evaluate(f"{name} [{kind[:5]}]", subset, mode(name)))
    table([s.row() for s in scores])
    if grid:
        table(fusion_grid(kb, questions))
    vector, keyword, hybrid, before = scores[:4]
    checks = {
        "hybrid hit@5 >= max(vector, keyword)": hybrid.hit(5) >= max(vector.hit(5), keyword.hit(5)),
        "hybrid MRR >= max(vector, keyword)": hybrid.mrr >= max(vector.mrr, keyword.mrr),
        "BM25 MRR >= before + 0.15": keyword.mrr >= before.mrr + 0.15,
    }
    for check, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}: {check}")
    return all(checks.values())


def fusion_grid(kb: Any, questions: list[Any]) -> list[dict[str, Any]]:
    """Hybrid for other RRF constants, depths and keyword weights, fused from the same two 40-deep
    lists per question (apps.knowledge.search._fuse, the function knowledge_search uses)."""
    from apps.knowledge import search
    from apps.knowledge.embeddings import embedder_for
    from apps.knowledge.models import Chunk
    from tests.support import retrieval_eval as ev

    texts = dict(Chunk.objects.filter(knowledge_base=kb, active=True).values_list("id", "text"))
    embedder = embedder_for(organization=kb.organization, model=kb.embedding_model)
    lists = []
    for question in questions:
        vector = search._vector_ranked(kb, embedder.embed([question.question])[0], search.SearchFilters(), 40)
        keyword, _ = search._keyword_ranked(kb, question.question, search.SearchFilters(), 40)
        lists.append((question, vector, keyword))
    rows = []
    for rrf_k in (1, 5, 10, 20, 60):
        for depth in (5, 10, 20, 40):
            for weight in (1.0, 1.5, 2.0, 3.0):
                scores = ev.Scores(f"k={rrf_k} d={depth} kw={weight}")
                for question, vector, keyword in lists:
                    fused = search._fuse("hybrid", vector[:depth], keyword[:depth], 1.0, weight, rrf_k)
                    ranked = [texts[chunk_id] for chunk_id, *_ in fused[: ev.DEPTH]]
                    scores.ranks.append(
                        next((i for i, t in enumerate(ranked, start=1) if ev.answers(question, t)), None)
                    )
                rows.append({k: v for k, v in scores.row().items() if not k.endswith("_ms")})
    return sorted(rows, key=lambda r: (-r["mrr@10"], -r["hit@5"]))


if __name__ == "__main__":
    main()
