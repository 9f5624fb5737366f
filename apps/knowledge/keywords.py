"""BM25 keyword ranking served from PostgreSQL (docs/adr/0009).

The embedded PostgreSQL ships no BM25 extension, so the statistics BM25 needs live in two
tables that ingestion keeps current: `KeywordTerm` (in how many active chunks of a knowledge base
each lexeme occurs) and `KeywordCorpus` (active chunks and their summed length per knowledge
base). A chunk's own term frequencies are the positions its `search_vector` (tsvector, GIN
index) stores for each lexeme, and its length is `search_length` (tokens left after stop
words); a trigger fills both from `search_text` on insert. Stemming and stop words follow the
knowledge base's language through PostgreSQL's text search configurations; Chinese (and any
CJK run in other languages) is indexed as overlapping character bigrams with the `simple`
configuration, Vietnamese (syllables between spaces) with `simple`.

Scoring (Okapi BM25, Lucene's non-negative idf):
    idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))
    score  = sum_t idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen))
normalised to 0..1 by the best score the query could reach (every term's idf * (k1 + 1)).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import connection

# knowledge base language -> PostgreSQL text search configuration
LANGUAGES: dict[str, str] = {
    "english": "english",
    "german": "german",
    "french": "french",
    "spanish": "spanish",
    "portuguese": "portuguese",
    "italian": "italian",
    "dutch": "dutch",
    "vietnamese": "simple",
    "chinese": "simple",
    "simple": "simple",
}
# Candidate rows are read term by term, rarest first (MaxScore, see _max_score), until the terms
# left cannot change the result or the candidates would exceed this many postings (then the more
# frequent terms are dropped from the candidates, not from the score: a chunk that holds only very
# common terms scores low anyway).
MAX_CANDIDATE_POSTINGS = 20_000
# MaxScore (see _max_score): the first stage reads the rarest terms up to this many postings.
FIRST_STAGE_POSTINGS = 2_000
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")


def search_config(language: str) -> str:
    return LANGUAGES.get(language, "simple")


def _bigrams(run: str) -> str:
    if len(run) == 1:
        return f" {run} "
    return " " + " ".join(run[i : i + 2] for i in range(len(run) - 1)) + " "


def keyword_text(text: str, *, title: str = "", heading_path: list[str] | None = None) -> str:
    """What the keyword index reads for a chunk (and for a query): the title and heading path
    first, CJK runs as overlapping character bigrams."""
    heading_path = heading_path or []
    if heading_path[:1] == [title]:
        title = ""
    prefix = "\n".join(part for part in (title, " > ".join(heading_path)) if part)
    body = f"{prefix}\n\n{text}" if prefix else text
    return CJK.sub(lambda match: _bigrams(match.group(0)), body)


@dataclass(frozen=True)
class Bm25Params:
    k1: float = 1.2
    b: float = 0.75


def stats_activate(knowledge_base_id: UUID | str, document_id: UUID | str, generation: int) -> None:
    """Inside the transaction that activates `generation` of a document: its chunks enter the
    statistics and the document's chunks of other, active generations leave them."""
    _apply(
        knowledge_base_id,
        """c.document_id = %s AND ((c.generation = %s AND NOT c.active) OR (c.generation <> %s AND c.active))""",
        [document_id, generation, generation],
        "CASE WHEN c.generation = %s THEN 1 ELSE -1 END",
        [generation],
    )


def stats_forget(knowledge_base_id: UUID | str, document_id: UUID | str) -> None:
    """Before a document is deleted: its active chunks leave the statistics."""
    _apply(knowledge_base_id, "c.document_id = %s AND c.active", [document_id], "-1", [])


def stats_rebuild(knowledge_base_id: UUID | str) -> None:
    """Recount a knowledge base's statistics from its active chunks (after a bulk load that went
    around ingestion, e.g. a COPY; ingestion keeps them current itself)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext('knowledge_keywords'), hashtext(%s::text))",
            [str(knowledge_base_id)],
        )
        cursor.execute("DELETE FROM knowledge_keywordterm WHERE knowledge_base_id = %s", [knowledge_base_id])
        cursor.execute("DELETE FROM knowledge_keywordcorpus WHERE knowledge_base_id = %s", [knowledge_base_id])
        cursor.execute(
            """
            INSERT INTO knowledge_keywordterm (knowledge_base_id, term, df)
            SELECT %s, t.lexeme, count(*)
            FROM knowledge_chunk c, unnest(tsvector_to_array(c.search_vector)) AS t(lexeme)
            WHERE c.knowledge_base_id = %s AND c.active GROUP BY t.lexeme
            """,
            [knowledge_base_id, knowledge_base_id],
        )
        cursor.execute(
            """
            INSERT INTO knowledge_keywordcorpus (knowledge_base_id, chunks, length)
            SELECT %s, count(*), coalesce(sum(c.search_length), 0)
            FROM knowledge_chunk c WHERE c.knowledge_base_id = %s AND c.active
            """,
            [knowledge_base_id, knowledge_base_id],
        )


def _apply(knowledge_base_id: UUID | str, where: str, params: list[Any], sign: str, sign_params: list[Any]) -> None:
    with connection.cursor() as cursor:
        # One writer per knowledge base at a time: no deadlock between documents finishing together.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext('knowledge_keywords'), hashtext(%s::text))", [str(knowledge_base_id)]
        )
        cursor.execute(
            f"""
            INSERT INTO knowledge_keywordterm (knowledge_base_id, term, df)
            SELECT %s, t.lexeme, sum({sign})
            FROM knowledge_chunk c, unnest(tsvector_to_array(c.search_vector)) AS t(lexeme)
            WHERE {where}
            GROUP BY t.lexeme
            ORDER BY t.lexeme
            ON CONFLICT (knowledge_base_id, term) DO UPDATE SET df = knowledge_keywordterm.df + EXCLUDED.df
            """,  # noqa: S608 - fixed SQL fragments of this module
            [knowledge_base_id, *sign_params, *params],
        )
        cursor.execute(
            "DELETE FROM knowledge_keywordterm WHERE knowledge_base_id = %s AND df <= 0", [knowledge_base_id]
        )
        cursor.execute(
            f"""
            INSERT INTO knowledge_keywordcorpus (knowledge_base_id, chunks, length)
            SELECT %s, coalesce(sum({sign}), 0), coalesce(sum(({sign}) * c.search_length), 0)
            FROM knowledge_chunk c WHERE {where}
            ON CONFLICT (knowledge_base_id) DO UPDATE
            SET chunks = knowledge_keywordcorpus.chunks + EXCLUDED.chunks,
                length = knowledge_keywordcorpus.length + EXCLUDED.length
            """,  # noqa: S608 - fixed SQL fragments of this module
            [knowledge_base_id, *sign_params, *sign_params, *params],
        )


def query_terms(query: str, config: str) -> list[str]:
    """The query's distinct lexemes in the base's language, in order."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tsvector_to_array(to_tsvector(%s::regconfig, %s))", [config, keyword_text(query)])
        row = cursor.fetchone()
    lexemes: list[str] = list(row[0] or []) if row else []
    # tsvector_to_array sorts; keep the query's order for display
    order = {lexeme: i for i, lexeme in enumerate(lexemes)}
    return sorted(order, key=order.__getitem__)


def bm25_ranked(
    *,
    knowledge_base_id: UUID | str,
    config: str,
    params: Bm25Params,
    query: str,
    where: str,
    where_params: list[Any],
    limit: int,
) -> tuple[list[tuple[int, float]], list[str]]:
    """(chunk id, BM25 normalised to 0..1) best first, and the query's lexemes."""
    terms = query_terms(query, config)
    if not terms:
        return [], []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT coalesce((SELECT chunks FROM knowledge_keywordcorpus WHERE knowledge_base_id = %s), 0),
                   coalesce((SELECT length FROM knowledge_keywordcorpus WHERE knowledge_base_id = %s), 0)
            """,
            [knowledge_base_id, knowledge_base_id],
        )
        chunks, length = cursor.fetchone()  # type: ignore[misc]
        cursor.execute(
            "SELECT term, df FROM knowledge_keywordterm WHERE knowledge_base_id = %s AND term = ANY(%s)",
            [knowledge_base_id, terms],
        )
        frequencies = {str(term): int(df) for term, df in cursor.fetchall()}
        present = [t for t in terms if frequencies.get(t, 0) > 0]
        if not present or not chunks:
            return [], terms
        total = int(chunks)
        average = max(1.0, float(length) / total)
        idf = {t: math.log(1 + (total - frequencies[t] + 0.5) / (frequencies[t] + 0.5)) for t in present}
        best = sum(idf.values()) * (params.k1 + 1)
        scored = _max_score(
            cursor,
            present=present,
            frequencies=frequencies,
            idf=idf,
            params=params,
            average=average,
            where=where,
            where_params=where_params,
            limit=limit,
        )
        return [(chunk_id, score / best) for chunk_id, score in scored], terms


def _tsquery(terms: list[str]) -> str:
    # quoted lexemes: a quote doubles, a backslash escapes (tsquery's own syntax)
    return " | ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms)


def _max_score(
    cursor: Any,
    *,
    present: list[str],
    frequencies: dict[str, int],
    idf: dict[str, float],
    params: Bm25Params,
    average: float,
    where: str,
    where_params: list[Any],
    limit: int,
) -> list[tuple[int, float]]:
    """The `limit` best (chunk id, raw BM25) by MaxScore: candidates are read term by term, rarest
    first, and the rest are never read once they cannot change the top `limit`.

    A chunk holding none of the terms read so far scores strictly less than the sum of the other
    terms' upper bounds (idf * (k1 + 1), as tf / (tf + K) < 1); once that sum is below the
    `limit`-th best score found, the result is exact. Candidates stay capped at
    MAX_CANDIDATE_POSTINGS (then the rest is dropped, as a chunk holding only very common terms
    scores low anyway)."""
    order = sorted(present, key=lambda t: (frequencies[t], t))
    bound = {t: idf[t] * (params.k1 + 1) for t in order}
    scored: dict[int, float] = {}
    read: list[str] = []
    postings = 0
    while len(read) < len(order):
        batch = [order[len(read)]]  # at least one term per stage
        while (
            len(read) + len(batch) < len(order)
            and postings + sum(frequencies[t] for t in batch) + frequencies[order[len(read) + len(batch)]]
            <= FIRST_STAGE_POSTINGS
        ):
            batch.append(order[len(read) + len(batch)])
        added = sum(frequencies[t] for t in batch)
        if read and postings + added > MAX_CANDIDATE_POSTINGS:
            break
        tsquery = f"({_tsquery(batch)}) & !({_tsquery(read)})" if read else _tsquery(batch)
        scored.update(_score(cursor, present, idf, params, average, where, where_params, tsquery, limit))
        read += batch
        postings += added
        best = sorted(scored.values(), reverse=True)
        threshold = best[limit - 1] if len(best) >= limit else 0.0
        if sum(bound[t] for t in order[len(read) :]) < threshold:
            break
    return sorted(scored.items(), key=lambda item: (-item[1], item[0]))[:limit]


def _score(
    cursor: Any,
    present: list[str],
    idf: dict[str, float],
    params: Bm25Params,
    average: float,
    where: str,
    where_params: list[Any],
    tsquery: str,
    limit: int,
) -> list[tuple[int, float]]:
    """The `limit` best chunks matching `tsquery`, scored over all the query's terms. Only the
    query's lexemes leave the tsvector (weighted 'A' after every lexeme was set to 'D', then
    ts_filter, both in C) before the unnest: unnesting the whole vector cost ~0.05 ms a chunk."""
    cursor.execute(
        f"""
        WITH q AS (SELECT * FROM unnest(%s::text[], %s::float8[]) AS q(term, idf)),
        candidates AS MATERIALIZED (
            SELECT c.id, ts_filter(setweight(setweight(c.search_vector, 'D'), 'A', %s::text[]), '{{a}}') AS terms,
                   c.search_length
            FROM knowledge_chunk c
            WHERE {where} AND c.search_vector @@ %s::tsquery
        )
        SELECT candidates.id,
               sum(q.idf * cardinality(t.positions) * (%s + 1)
                   / (cardinality(t.positions) + %s * (1 - %s + %s * candidates.search_length / %s))) AS score
        FROM candidates
        CROSS JOIN LATERAL unnest(candidates.terms) AS t
        JOIN q ON q.term = t.lexeme
        GROUP BY candidates.id
        ORDER BY score DESC, candidates.id
        LIMIT %s
        """,  # noqa: S608 - only our fixed filter SQL is interpolated
        [
            present,
            [idf[t] for t in present],
            present,
            *where_params,
            tsquery,
            params.k1,
            params.k1,
            params.b,
            params.b,
            average,
            limit,
        ],
    )
    return [(int(row[0]), float(row[1])) for row in cursor.fetchall()]
