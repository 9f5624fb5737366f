"""The retrieval evaluation (tests/data/retrieval): load the questions, run one search mode over
them, and score hit@1, hit@5, MRR@10 and latency. Shared by tests/bench/bench_retrieval.py and
tests/apps/knowledge/test_retrieval_eval.py."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "retrieval"
CORPUS = DATA / "corpus"
DEPTH = 10


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    document: str
    gold: str
    kind: str


@dataclass
class Scores:
    name: str
    ranks: list[int | None] = field(default_factory=list)  # 1-based rank of the first answer
    latencies_ms: list[float] = field(default_factory=list)

    def hit(self, at: int) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= at) / max(1, len(self.ranks))

    @property
    def mrr(self) -> float:
        return sum(1 / r for r in self.ranks if r is not None and r <= DEPTH) / max(1, len(self.ranks))

    def latency(self, q: float) -> float:
        values = sorted(self.latencies_ms)
        if not values:
            return 0.0
        return values[min(len(values) - 1, int(q * len(values)))]

    def row(self) -> dict[str, Any]:
        return {
            "mode": self.name,
            "hit@1": round(self.hit(1), 3),
            "hit@5": round(self.hit(5), 3),
            "mrr@10": round(self.mrr, 3),
            "p50_ms": round(statistics.median(self.latencies_ms), 1) if self.latencies_ms else 0.0,
            "p95_ms": round(self.latency(0.95), 1),
        }


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def questions(documents: Sequence[str] | None = None) -> list[Question]:
    raw = json.loads((DATA / "questions.json").read_text())
    out = [Question(**item) for item in raw]
    return [q for q in out if documents is None or q.document in documents]


def corpus_files(prefix: str = "") -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.name.startswith(prefix))


def answers(question: Question, text: str) -> bool:
    return _normal(question.gold) in _normal(text)


def evaluate(name: str, items: Sequence[Question], search: Callable[[str], list[str]]) -> Scores:
    """`search(query)` returns the texts of the top DEPTH chunks, best first."""
    scores = Scores(name)
    for question in items:
        started = time.perf_counter()
        texts = search(question.question)
        scores.latencies_ms.append((time.perf_counter() - started) * 1000)
        scores.ranks.append(next((i for i, text in enumerate(texts, start=1) if answers(question, text)), None))
    return scores


def legacy_keyword_texts(knowledge_base: Any, query: str, limit: int = DEPTH) -> list[str]:
    """The keyword ranking before BM25 (every word OR-ed, `ts_rank_cd`), for comparison."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT replace(plainto_tsquery('english', %s)::text, ' & ', ' | ')", [query])
        tsquery = str(cursor.fetchone()[0] or "")  # type: ignore[index]
        if not tsquery:
            return []
        cursor.execute(
            """
            SELECT c.text FROM knowledge_chunk c, to_tsquery('english', %s) q
            WHERE c.organization_id = %s AND c.knowledge_base_id = %s AND c.active AND c.search_vector @@ q
            ORDER BY ts_rank_cd(c.search_vector, q, 32) DESC, c.id LIMIT %s
            """,
            [tsquery, knowledge_base.organization_id, knowledge_base.id, limit],
        )
        return [str(row[0]) for row in cursor.fetchall()]
