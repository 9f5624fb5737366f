"""Query rewriting for the retrieve node: more queries than the user's, written by a chat model,
and their result lists fused by reciprocal rank.

- multi_query: the model writes N other search queries for the question (one a line); the
  question and each query are searched, and the lists fused.
- hyde (hypothetical document embeddings): the model writes a short passage that would answer the
  question; the question and that passage are searched, and the two lists fused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from langchain_core.documents import Document
from langchain_core.messages import HumanMessage

from flows.ports import Ports

RRF_K = 1
MAX_QUERY_CHARS = 1000

MULTI_QUERY = (
    "Write {n} different search queries that would find passages answering the question below. "
    "Use other words than the question where you can. One query a line, nothing else.\n\nQuestion: {question}"
)
HYDE = (
    "Write a short passage (at most three sentences) of a manual that answers the question below. "
    "Answer with the passage only.\n\nQuestion: {question}"
)


async def rewritten(ports: Ports, *, strategy: str, model: str, question: str, n: int) -> list[str]:
    """The extra queries (the question itself not included), deduplicated, at most n."""
    prompt = (MULTI_QUERY if strategy == "multi_query" else HYDE).format(n=n, question=question)
    chat = ports.models.chat_model(model, temperature=0.0, max_tokens=96 * n if strategy == "multi_query" else 200)
    reply = await chat.ainvoke([HumanMessage(content=prompt)])
    text = reply.content if isinstance(reply.content, str) else " ".join(str(part) for part in reply.content)
    if strategy == "hyde":
        passage = text.strip()[:MAX_QUERY_CHARS]
        return [passage] if passage else []
    seen = {question.strip().lower()}
    queries = []
    for line in text.splitlines():
        query = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip().strip('"')[:MAX_QUERY_CHARS]
        if query and query.lower() not in seen:
            seen.add(query.lower())
            queries.append(query)
    return queries[:n]


def fused(lists: Sequence[list[Document]], queries: Sequence[str], k: int) -> list[Document]:
    """Reciprocal-rank fusion of the lists (a chunk found by several queries rises); each document
    keeps the metadata of its best placement plus `queries`: which queries found it."""
    scores: dict[str, float] = {}
    best: dict[str, tuple[int, Document]] = {}
    found_by: dict[str, list[str]] = {}
    for query, documents in zip(queries, lists, strict=True):
        for rank, document in enumerate(documents, start=1):
            key = str(document.metadata.get("chunk_id", document.metadata.get("chunk", document.page_content)))
            scores[key] = scores.get(key, 0.0) + 1 / (RRF_K + rank)
            found_by.setdefault(key, []).append(query)
            if key not in best or rank < best[key][0]:
                best[key] = (rank, document)
    order = sorted(scores, key=lambda key: -scores[key])[:k]
    out = []
    for key in order:
        document = best[key][1]
        out.append(
            Document(
                page_content=document.page_content,
                metadata={**document.metadata, "queries": found_by[key], "fused_score": round(scores[key], 6)},
            )
        )
    return out
