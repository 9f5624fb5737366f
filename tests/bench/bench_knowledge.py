"""Knowledge bases: ingestion throughput and search at 100,000 chunks, on a throw-away data dir.

    .venv/bin/python tests/bench/bench_knowledge.py [--pdfs 12] [--rounds 2] [--chunks 100000]

1. Parsing: text PDFs (10 pages each) through the real sandboxed parser + chunker, pages/s
   (no embedding).
2. Embedding: a whole ingestion job (`document_ingest`: parse, chunk, embed in batches, commit
   chunks + progress) in chunks/s, against calling the embedding model directly on the same
   chunk texts; rounds interleaved, same process, same threads. Ratio = direct time / job time.
3. Search: 10 tenants, one with --chunks chunks (the others 10,000 each), clustered synthetic
   embeddings loaded with binary COPY, the HNSW index built after the load. Latency p50/p99 of
   `knowledge_search` (hybrid, k=10, query embedded by the real model) against an exact scan of
   the same tenant; recall@10 of the HNSW search against exact (numpy) top-10 on the same vectors.

Uses its own TRELLIS_DATA_DIR under /tmp (removed afterwards unless --keep).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from benchlib import percentile

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DIMS = 384
OTHER_TENANTS = 9
OTHER_CHUNKS = 10_000
CHUNKS_PER_DOCUMENT = 100


def setup_django(data_dir: Path) -> None:
    os.environ["TRELLIS_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["TRELLIS_LOCAL_MODEL"] = "off"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_org(name: str) -> Any:
    from django.contrib.auth.models import User

    from apps.tenancy.access import Actor, OrgAccess
    from apps.tenancy.models import Role
    from apps.tenancy.services import organization_create

    user = User.objects.create_user(f"bench-{uuid.uuid4().hex[:8]}", None, "bench passphrase 1")
    actor = Actor(user=user, api_key=None)
    return OrgAccess(organization_create(actor=actor, name=name), Role.OWNER, actor)


# 1 + 2: ingestion ------------------------------------------------------------------------------

WORDS = [
    "river",
    "permit",
    "harbour",
    "council",
    "winter",
    "season",
    "lantern",
    "ferry",
    "glacier",
    "orchard",
    "market",
    "ledger",
    "archive",
    "beacon",
    "meadow",
    "quarry",
    "signal",
    "station",
    "tariff",
    "voyage",
    "workshop",
    "granary",
    "mill",
    "bridge",
    "tower",
    "valley",
    "survey",
    "record",
    "schedule",
    "inspection",
    "membership",
    "license",
    "storage",
    "delivery",
]


def prose(seed: int, sentences: int) -> str:
    import random

    rnd = random.Random(seed)
    out = []
    for _ in range(sentences):
        words = [rnd.choice(WORDS) for _ in range(rnd.randint(9, 18))]
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def pdf_bytes(seed: int, pages: int) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for number in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 6, prose(seed * 1000 + number, 28), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def bench_parsing(pdfs: int) -> dict[str, float]:
    from apps.knowledge.chunking import ChunkSettings, chunk_sections
    from apps.knowledge.parsing import parse_in_sandbox

    files = [pdf_bytes(i, 10) for i in range(pdfs)]
    chunk_sections(parse_in_sandbox(files[0], "pdf"), ChunkSettings())  # warm the tokenizer
    pages = chunks = 0
    parse_s = chunk_s = 0.0
    for data in files:
        start = time.perf_counter()
        sections = parse_in_sandbox(data, "pdf")
        parsed = time.perf_counter()
        drafts = chunk_sections(sections, ChunkSettings())
        parse_s += parsed - start
        chunk_s += time.perf_counter() - parsed
        pages += max(s.page or 0 for s in sections)
        chunks += len(drafts)
    total = parse_s + chunk_s
    print(f"parsing: {pdfs} PDFs, {pages} pages, {chunks} chunks in {total:.2f} s")
    print(f"  pages/s (parse in sandbox + chunk): {pages / total:.1f}  (parse {parse_s:.2f} s, chunk {chunk_s:.2f} s)")
    return {"pages_per_s": pages / total, "parse_s": parse_s, "chunk_s": chunk_s}


def bench_embedding(rounds: int) -> dict[str, float]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.knowledge.embeddings import BATCH_SIZE, _local_model
    from apps.knowledge.ingestion import document_ingest
    from apps.knowledge.models import Chunk
    from apps.knowledge.services import document_retry, document_upload, knowledge_base_create

    access = make_org("Ingest")
    text = "\n\n".join(f"Section {i}. " + prose(i, 12) for i in range(160)).encode()
    model = _local_model()
    model.encode(["warm up"] * 4)
    job_times: list[float] = []
    embed_times: list[float] = []
    direct_times: list[float] = []
    count = 0
    for number in range(rounds):
        knowledge_base = knowledge_base_create(access=access, name=f"round {number}")
        [upload] = document_upload(
            access=access,
            knowledge_base_id=knowledge_base.id,
            files=[SimpleUploadedFile("manual.txt", text)],
        )
        start = time.perf_counter()
        assert document_ingest(upload.document.id, upload.document.generation) == "ready"
        job_times.append(time.perf_counter() - start)
        texts = list(Chunk.objects.filter(document=upload.document).order_by("ordinal").values_list("text", flat=True))
        count = len(texts)
        start = time.perf_counter()
        model.encode(
            texts, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        direct_times.append(time.perf_counter() - start)
        # Retry keeps the parsed sections: this job is chunk + embed + commit, no parsing.
        again = document_retry(access=access, knowledge_base_id=knowledge_base.id, document_id=upload.document.id)
        start = time.perf_counter()
        assert document_ingest(again.id, again.generation) == "ready"
        embed_times.append(time.perf_counter() - start)
    job, embed, direct = (statistics.median(x) for x in (job_times, embed_times, direct_times))
    print(f"embedding: {count} chunks per document, {rounds} rounds (median)")
    print(f"  model directly on the same texts: {count / direct:.1f} chunks/s ({direct:.2f} s)")
    print(f"  ingestion, parsed document (chunk + embed + commit): {count / embed:.1f} chunks/s ({embed:.2f} s)")
    print(f"    ratio to direct: {direct / embed:.3f}")
    print(f"  ingestion, whole job (+ parse in the sandbox): {count / job:.1f} chunks/s ({job:.2f} s)")
    print(f"    ratio to direct: {direct / job:.3f}")
    print(f"  rounds: job {fmt(job_times)}, parsed {fmt(embed_times)}, direct {fmt(direct_times)}")
    return {"embed_ratio": direct / embed, "job_ratio": direct / job}


def html_page(seed: int) -> bytes:
    """A text-heavy manual page: site navigation, a sidebar, headings, paragraphs, a table, a footer."""
    nav = " ".join(f'<a href="/p{(seed + i) % 50}.html">Page {(seed + i) % 50}</a>' for i in range(12))
    sections = "".join(
        f"<h2 id='s{i}'>Section {seed}.{i}</h2><p>{prose(seed * 10 + i, 8)}</p><p>{prose(seed * 10 + i + 5, 6)}</p>"
        for i in range(6)
    )
    table = "".join(f"<tr><td>option{i}</td><td>{prose(seed + i, 1)}</td></tr>" for i in range(8))
    return (
        f"<html><head><title>Manual page {seed}</title></head><body><nav>{nav}</nav>"
        f"<div class='sidebar'><ul>{''.join(f'<li><a href=#>{i}</a></li>' for i in range(20))}</ul></div>"
        f"<main><h1>Manual page {seed}</h1>{sections}<table><tr><th>Option</th><th>Meaning</th></tr>{table}</table>"
        f"</main><footer>Copyright the authors. Built with a generator.</footer></body></html>"
    ).encode()


def bench_html(
    pages: int, rounds: int = 1, ab: bool = False, nice_ab: bool = False, window_ab: bool = False
) -> dict[str, float]:
    """Ingestion of text-heavy HTML pages (uploaded, one job each: sandboxed parse in the warm pool
    with the next page parsed ahead, chunk, embed, commit) against, in the same run, the raw
    parser + chunker + embedder on the same pages without the job (no database, no progress), and
    the embedder alone on the same chunk texts (timed before and after the jobs in each round, see
    below). Each of `rounds` rounds ingests into a new knowledge base; the ratio is per round, its
    median and lowest reported (the machine is shared: a lone ratio is noise), with the load
    average, and where the embedder's time went in each (busy, idle, run-queue wait). `ab`:
    each round also times the jobs without the embedding ahead (`ingestion.EMBED_AHEAD = 0`: the
    next pages still parsed and chunked ahead), as a before/after under the same load. `nice_ab`:
    each round also times the jobs with their side work at the embedder's priority
    (`priority.SIDE_NICE = 0`; the two kinds of jobs in turns). `window_ab`: each round also times
    the jobs with one document per embedding call, as before the pipeline embedded several together
    (`ingestion.EMBED_AHEAD = 1`, `PARSE_AHEAD = 2`; the two kinds of jobs in turns)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.knowledge import embeddings, ingestion
    from apps.knowledge.chunking import ChunkSettings, chunk_sections, chunker_warm, embedding_text
    from apps.knowledge.embeddings import BATCH_SIZE, _local_model
    from apps.knowledge.ingestion import document_ingest
    from apps.knowledge.models import Chunk
    from apps.knowledge.parsing import parse_in_sandbox
    from apps.knowledge.services import document_upload, knowledge_base_create

    embed_ahead = ingestion.EMBED_AHEAD
    passes = getattr(embeddings, "LOCAL_PASS_SIZE", BATCH_SIZE)  # the product's passes (before: BATCH_SIZE)
    access = make_org("Html")
    model = _local_model()
    # The embedder alone runs where the job's embedding runs: on the product's embedding thread
    # (embeddings._local_thread), so whatever the product sets for that thread (its priority,
    # the process's GIL switch interval) applies to the baseline alike.
    thread = getattr(embeddings, "_local_thread", None)

    def on_embedder(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return thread().submit(fn, *args, **kwargs).result() if thread is not None else fn(*args, **kwargs)

    on_embedder(model.encode, ["warm up"] * 4)
    # What the product sets for embedding, and so for the job and the baseline alike: the
    # allocator's thresholds (process-wide, set with the embedding thread) and the embedding
    # thread's priority (the process's own); the job's side work runs SIDE_NICE lower.
    try:
        from apps.knowledge import priority

        print(
            f"  embedder settings (job and baseline): allocator thresholds {embeddings.LOCAL_MALLOC}, "
            f"embedding thread niceness {on_embedder(priority.nice_of)}; the job's side work +{priority.SIDE_NICE}",
            flush=True,
        )
    except ImportError:  # an earlier tree (A/B)
        print("  embedder settings: glibc's defaults, no side-work priority (an earlier tree)", flush=True)
    encode = model.encode
    spans: list[tuple[float, float, float, float]] = []  # start, end, CPU s, run-queue wait s of each call

    def timed_encode(*args: Any, **kwargs: Any) -> Any:
        cpu, wait = _thread_sched()
        start = time.perf_counter()
        try:
            return encode(*args, **kwargs)
        finally:
            end = time.perf_counter()
            cpu2, wait2 = _thread_sched()
            spans.append((start, end, cpu2 - cpu, wait2 - wait))

    model.encode = timed_encode
    bodies = [html_page(seed) for seed in range(pages)]
    parse_in_sandbox(bodies[0], "html")  # warm: the pool's worker and its libraries for both
    chunker_warm()  # what a queue worker does at start (apps.knowledge.tasks), for both

    def jobs(round_: int) -> tuple[float, int]:
        knowledge_base = knowledge_base_create(access=access, name=f"html {round_}")
        uploads = document_upload(
            access=access,
            knowledge_base_id=knowledge_base.id,
            files=[SimpleUploadedFile(f"page{i}.html", body) for i, body in enumerate(bodies)],
        )
        spans.clear()
        process_cpu = time.process_time()
        start = time.perf_counter()
        for upload in uploads:
            assert document_ingest(upload.document.id, upload.document.generation) == "ready"
        getattr(ingestion, "pipeline_drain", lambda: None)()  # nothing of the jobs left running
        took = time.perf_counter() - start
        # The rest of the job in this process (every thread but the embedder's: ORM, chunking, the
        # keyword text, progress; not the sandbox's nor PostgreSQL's processes), beside the embedder.
        rest = time.process_time() - process_cpu - sum(span[2] for span in spans)
        print(f"    job: {_breakdown(spans, start, took)}; the rest of this process: CPU {rest:.2f} s", flush=True)
        return took, Chunk.objects.filter(knowledge_base=knowledge_base).count()

    local_encode = getattr(embeddings, "_local_encode", None) if hasattr(embeddings, "local_passes") else None
    settings_ = ChunkSettings("sentence", 256, 32)
    start = time.perf_counter()
    texts: list[str] = []
    by_page: list[list[str]] = []
    for body in bodies:
        sections = parse_in_sandbox(body, "html")
        drafts = chunk_sections(sections, settings_)
        page_texts = [embedding_text(d.text, title=sections[0].title, heading_path=d.heading_path) for d in drafts]
        if local_encode is not None:  # the product's own passes
            on_embedder(local_encode, page_texts)
        else:
            on_embedder(
                model.encode,
                page_texts,
                batch_size=passes,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        texts.extend(page_texts)
        by_page.append(page_texts)
    raw = time.perf_counter() - start

    # The embedder alone on the same chunk texts, three ways: all of them in one call in passes of
    # 32 sorted by length (the baseline before), the same in passes of the product's size
    # (LOCAL_PASS_SIZE), and the job's own calls (a page's chunks at a time). The baseline is the
    # way that is fastest over the whole run (its median), so a lucky sample of one way does not
    # pick it, and an unlucky one of the job's does not either.
    # Where the product splits its passes by length (embeddings.local_passes), the same split is
    # two more ways ("split": the product's own encode, all texts in one call and page by page), so
    # the baseline gets whatever the job's embedder gets, and the fastest of the five is taken.
    ways: list[tuple[str, int | str]] = [("all", 32), ("all", passes), ("pages", passes)]
    if local_encode is not None:
        ways += [("all", "split"), ("pages", "split")]

    def embed_alone(order: list[tuple[str, int | str]]) -> dict[str, float]:
        took: dict[str, float] = {}
        for way, size in order:
            spans.clear()
            start = time.perf_counter()
            for group in [texts] if way == "all" else by_page:
                if isinstance(size, str) and local_encode is not None:
                    on_embedder(local_encode, group)
                    continue
                on_embedder(
                    model.encode,
                    group,
                    batch_size=size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            name = f"{way} {size}"
            took[name] = time.perf_counter() - start
            print(f"    embedder alone ({name}): {_breakdown(spans, start, took[name])}", flush=True)
        return took

    # Each round: the embedder alone, the jobs, the embedder alone again in the reverse order; each
    # way's time is the mean of its two, so that the shared machine's drift (the same embedding
    # took 9.9-14.7 s of CPU in one profile) falls on both sides alike.
    alone: list[dict[str, float]] = []
    job_times: list[float] = []
    without: list[float] = []
    chunks = 0
    flat: list[float] = []  # nice_ab: the jobs with the side work at the embedder's priority
    per_document: list[float] = []  # window_ab: the jobs with one document per embedding call

    def jobs_per_document(round_: int) -> float:
        saved = ingestion.EMBED_AHEAD, ingestion.PARSE_AHEAD
        ingestion.EMBED_AHEAD, ingestion.PARSE_AHEAD = 1, 2
        try:
            return jobs(round_ + 3000)[0]
        finally:
            ingestion.EMBED_AHEAD, ingestion.PARSE_AHEAD = saved

    def jobs_flat(round_: int) -> float:
        from apps.knowledge import parsing, priority

        side, base = priority.SIDE_NICE, priority.base_nice()

        def workers(nice: int) -> None:  # the parser pool's idle workers, started at the side priority
            for pid in parsing.parser_pool_state()["idle"]:
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, pid, nice)

        priority.SIDE_NICE = 0
        workers(base)
        try:
            return jobs(round_ + 2000)[0]
        finally:
            priority.SIDE_NICE = side
            workers(priority.side_nice())

    for round_ in range(rounds):
        order = ways[round_ % len(ways) :] + ways[: round_ % len(ways)]
        before = embed_alone(order)
        if nice_ab and round_ % 2:  # the two kinds of jobs in turns, first one then the other
            flat.append(jobs_flat(round_))
        if window_ab and round_ % 2:
            per_document.append(jobs_per_document(round_))
        job, chunks = jobs(round_)
        job_times.append(job)
        if nice_ab and not round_ % 2:
            flat.append(jobs_flat(round_))
        if window_ab and not round_ % 2:
            per_document.append(jobs_per_document(round_))
        if ab:
            ingestion.EMBED_AHEAD = 0
            try:
                without.append(jobs(round_ + 1000)[0])
            finally:
                ingestion.EMBED_AHEAD = embed_ahead
        after = embed_alone(order[::-1])
        alone.append({name: (before[name] + after[name]) / 2 for name in before})
        print(
            f"  round {round_ + 1}: job {job:.2f} s, embedder alone "
            + ", ".join(f"{name} {took:.2f} s" for name, took in alone[-1].items())
            + (f", without the embedding ahead {without[-1]:.2f} s" if ab else "")
            + (f", side work not lowered {flat[-1]:.2f} s" if nice_ab else "")
            + (f", one document per embedding call {per_document[-1]:.2f} s" if window_ab else "")
            + f", {load()}",
            flush=True,
        )
    best = min(alone[0], key=lambda name: statistics.median(a[name] for a in alone))
    ratios = [a[best] / j for a, j in zip(alone, job_times, strict=True)]
    embed, job = statistics.median(a[best] for a in alone), statistics.median(job_times)
    print(f"html ingestion: {pages} pages, {chunks} chunks")
    print(f"  ingestion jobs: {pages / job * 60:.1f} pages/min, {chunks / job:.1f} chunks/s (median {job:.2f} s)")
    print(f"  raw parser (sandbox) + chunker + embedder, no job: {pages / raw * 60:.1f} pages/min ({raw:.1f} s)")
    print(f"    ratio job / raw: {raw / job:.3f}")
    print(
        f"  embedder alone on the same {len(texts)} chunk texts, fastest way ({best}): "
        f"{len(texts) / embed:.1f} chunks/s (median {embed:.2f} s)"
    )
    median, lowest = statistics.median(ratios), min(ratios)
    print(f"    ratio job / embedder alone, per round: {fmt(ratios)}, median {median:.3f}, lowest {lowest:.3f}")
    for name in alone[0]:
        against = [a[name] / j for a, j in zip(alone, job_times, strict=True)]
        print(f"    against the embedder alone ({name}): {fmt(against)}")
    if flat:
        ratios_flat = [a[best] / f for a, f in zip(alone, flat, strict=True)]
        print(f"    side work not lowered: {fmt(ratios_flat)}, median {statistics.median(ratios_flat):.3f}")
    if per_document:
        ratios_one = [a[best] / f for a, f in zip(alone, per_document, strict=True)]
        paired = [j / f for j, f in zip(job_times, per_document, strict=True)]
        print(f"    one document per embedding call: {fmt(ratios_one)}, median {statistics.median(ratios_one):.3f}")
        print(f"    job time, window / one document per call (paired): {fmt(paired)}")
    if without:
        ratios_without = [a[best] / w for a, w in zip(alone, without, strict=True)]
        print(f"    without the embedding ahead: {fmt(ratios_without)}, median {statistics.median(ratios_without):.3f}")
    print(f"  {load()}")
    return {"raw_ratio": raw / job, "embed_ratio": median, "lowest_ratio": lowest}


def _thread_sched() -> tuple[float, float]:
    """This thread's CPU time and run-queue wait so far, in seconds (Linux schedstat)."""
    try:
        cpu, wait, _ = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat").read_text().split()
    except OSError:
        return 0.0, 0.0
    return int(cpu) / 1e9, int(wait) / 1e9


def _breakdown(spans: list[tuple[float, float, float, float]], began: float, took: float) -> str:
    """Where the embedder's time went: busy (inside encode calls, of it the thread's CPU and its
    run-queue wait), and idle (no encode call running), split into before the first call, between
    calls (the pipeline waiting for the rest) and after the last."""
    busy = cpu = wait = 0.0
    end_ = began
    gaps: list[float] = []
    for start, end, c, w in sorted(spans):
        gaps.append(max(0.0, start - end_))
        busy += max(0.0, end - max(start, end_))
        end_ = max(end_, end)
        cpu, wait = cpu + c, wait + w
    first, between, last = (gaps[0] if gaps else took), sum(gaps[1:]), max(0.0, began + took - end_)
    return (
        f"{took:.2f} s: embedder busy {busy:.2f} s (CPU {cpu:.2f}, run-queue wait {wait:.2f}), "
        f"idle {took - busy:.2f} s (first {first:.2f}, between {between:.2f} in {sum(g > 0.02 for g in gaps[1:])} "
        f"gaps over 20 ms, last {last:.2f})"
    )


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


# 3: search at 100k ----------------------------------------------------------------------------


class Space:
    """Clustered unit vectors: topics with anisotropic centroids plus a shared mean direction
    (sentence embeddings are neither uniform nor isotropic), each chunk near its topic."""

    def __init__(self, topics: int, seed: int = 7) -> None:
        import numpy as np

        self.rng = np.random.default_rng(seed)
        scale = 1 / np.sqrt(1 + np.arange(DIMS) / 24)  # variance decays across dimensions
        mean = self.rng.standard_normal(DIMS)
        centroids = self.rng.standard_normal((topics, DIMS)) * scale
        centroids = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
        self.centroids = centroids + 0.35 * mean / np.linalg.norm(mean)
        self.scale = scale
        self.topics = topics

    def near(self, topics: Any, spread: float = 0.9) -> Any:
        import numpy as np

        noise = self.rng.standard_normal((len(topics), DIMS)) * self.scale
        noise = noise / np.linalg.norm(noise, axis=1, keepdims=True)
        vectors = self.centroids[topics] + spread * noise
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ren",
    "tas",
    "vel",
    "dor",
    "pin",
    "sul",
    "gar",
    "nem",
    "bri",
    "tok",
    "fal",
    "ves",
    "mur",
]
VOCABULARY = [a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES][:3000]
ZIPF = [1 / (rank + 1) for rank in range(len(VOCABULARY))]  # word frequencies of prose


def topic_words(topic: int) -> list[str]:
    return [f"{WORDS[(topic * 7 + j) % len(WORDS)]}{topic % 97}" for j in range(4)]


def chunk_text(rnd: Any, topic: int) -> str:
    words = rnd.choices(VOCABULARY, weights=ZIPF, k=70) + [rnd.choice(topic_words(topic)) for _ in range(10)]
    rnd.shuffle(words)
    return " ".join(words)


LOAD_BATCH = 100_000


def load_tenant(access: Any, name: str, count: int, space: Space, seed: int) -> tuple[Any, Any, Any]:
    """One knowledge base with `count` active chunks. Answers (kb, ids, vectors).

    Fast path: text (70 words of a 3,000-word vocabulary drawn with Zipf frequencies by numpy,
    plus 10 words of the chunk's topic) and vectors (numpy, clustered) are COPY'd in binary into an
    UNLOGGED staging table, then one INSERT ... SELECT per 100,000 rows writes the chunks. The
    chunk table's own trigger builds
    search_vector / search_length from the text exactly as for an ingested chunk; the BM25
    statistics are recounted afterwards by `stats_rebuild` (what ingestion's `stats_activate`
    adds up chunk by chunk). Vectors are drawn in batches in a fixed order, so a re-run with the
    same seeds regenerates them (`--reuse`)."""
    import numpy as np
    from django.db import connection
    from pgvector.psycopg import register_vector

    from apps.knowledge.models import Document, KnowledgeBase

    topics = np.concatenate(
        [space.rng.integers(0, space.topics, size=min(LOAD_BATCH, count - i)) for i in range(0, count, LOAD_BATCH)]
    )
    vectors = np.concatenate([space.near(topics[i : i + LOAD_BATCH]) for i in range(0, count, LOAD_BATCH)])
    existing = KnowledgeBase.objects.filter(organization=access.organization, name=name).first()
    if existing is not None:  # --reuse: loaded by an earlier run
        return existing, _chunk_ids(existing, count), vectors
    knowledge_base = KnowledgeBase.objects.create(organization=access.organization, name=name)
    documents = Document.objects.bulk_create(
        [
            Document(
                organization=access.organization,
                knowledge_base=knowledge_base,
                name=f"doc-{i}.pdf",
                file_type="pdf",
                checksum=f"{seed}-{i}",
                status="ready",
                progress=1.0,
                chunk_count=CHUNKS_PER_DOCUMENT,
            )
            for i in range((count + CHUNKS_PER_DOCUMENT - 1) // CHUNKS_PER_DOCUMENT)
        ],
        batch_size=2000,
    )
    connection.ensure_connection()
    raw = connection.connection
    register_vector(raw)
    words = np.array(VOCABULARY, dtype=object)
    zipf = np.array(ZIPF) / sum(ZIPF)
    draw = np.random.default_rng(seed)
    with raw.cursor() as cursor:
        stage = f"CREATE UNLOGGED TABLE IF NOT EXISTS bench_stage (n int4, text text, embedding vector({DIMS}))"
        cursor.execute(stage)
        for begin in range(0, count, LOAD_BATCH):
            stop = min(count, begin + LOAD_BATCH)
            common = words[draw.choice(len(VOCABULARY), size=(stop - begin, 70), p=zipf)]
            own = draw.integers(0, 4, size=(stop - begin, 10))
            cursor.execute("TRUNCATE bench_stage")
            with cursor.copy("COPY bench_stage (n, text, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "text", "vector"])
                for i in range(begin, stop):
                    mine = topic_words(int(topics[i]))
                    text = " ".join([*common[i - begin], *(mine[j] for j in own[i - begin])])
                    copy.write_row((i, text, vectors[i]))
            cursor.execute(
                f"""
                INSERT INTO knowledge_chunk (organization_id, knowledge_base_id, document_id, file_type, generation,
                    document_version, ordinal, active, text, embedding, dims, page, heading_path, start_char,
                    end_char, token_count, anchor, search_config, search_length)
                SELECT %(org)s, %(kb)s, d.id, 'pdf', 1, 1, s.n %% {CHUNKS_PER_DOCUMENT}, true, s.text, s.embedding,
                       {DIMS}, 1 + (s.n %% {CHUNKS_PER_DOCUMENT}) / 4, '[]'::jsonb, 0, length(s.text), 100, '',
                       'english', 0
                FROM bench_stage s
                JOIN unnest(%(docs)s::uuid[]) WITH ORDINALITY AS d(id, number)
                  ON d.number = s.n / {CHUNKS_PER_DOCUMENT} + 1
                ORDER BY s.n
                """,  # noqa: S608 - integer constants of this script
                {"org": access.organization.id, "kb": knowledge_base.id, "docs": [d.id for d in documents]},
            )
            raw.commit()
            print(f"    {name}: {stop} / {count} chunks", flush=True)
        cursor.execute("DROP TABLE bench_stage")
    raw.commit()
    return knowledge_base, _chunk_ids(knowledge_base, count), vectors


def _chunk_ids(knowledge_base: Any, count: int) -> Any:
    """Chunk ids in load order, found back through (document name, ordinal)."""
    import numpy as np
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id, d.name, c.ordinal FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id "
            "WHERE c.knowledge_base_id = %s",
            [knowledge_base.id],
        )
        ids = np.zeros(count, dtype=np.int64)
        for chunk_id, document_name, ordinal in cursor.fetchall():
            ids[int(document_name[4:-4]) * CHUNKS_PER_DOCUMENT + ordinal] = chunk_id
    assert (ids > 0).all()
    return ids


def _tenant(name: str) -> Any:
    """The bench organization called `name` (an earlier run's, with --reuse), else a new one."""
    from apps.tenancy.access import Actor, OrgAccess
    from apps.tenancy.models import Membership, Role

    membership = Membership.objects.filter(organization__name=name).select_related("organization", "user").first()
    if membership is None:
        return make_org(name)
    return OrgAccess(membership.organization, Role.OWNER, Actor(user=membership.user, api_key=None))


def bench_search(chunks: int, queries: int, recall_too: bool = True) -> dict[str, float]:
    import random

    import numpy as np
    from django.db import connection, transaction

    from apps.knowledge.search import _vector_ranked, knowledge_search

    space = Space(topics=max(100, chunks // 100))
    tenants = [_tenant(f"Tenant {i}") for i in range(OTHER_TENANTS + 1)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM knowledge_chunk")
        loaded_before = cursor.fetchone()[0]  # type: ignore[index]
        if not loaded_before:
            cursor.execute(f"DROP INDEX IF EXISTS chunk_embedding_hnsw_{DIMS}")
            cursor.execute("DROP INDEX IF EXISTS chunk_search_vector")
    start = time.perf_counter()
    target, ids, vectors = load_tenant(tenants[0], "Big", chunks, space, seed=1)
    small = None
    for n, access in enumerate(tenants[1:], start=2):
        loaded = load_tenant(access, f"Small {n}", OTHER_CHUNKS, space, seed=n)
        small = small or loaded
    load_s = time.perf_counter() - start
    total = chunks + OTHER_TENANTS * OTHER_CHUNKS
    start = time.perf_counter()
    hnsw_s = 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [f"chunk_embedding_hnsw_{DIMS}"])
        indexed = cursor.fetchone() is not None
    if not indexed:
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '4GB'")
            cursor.execute("SET max_parallel_maintenance_workers = 1")
            cursor.execute(
                f"CREATE INDEX chunk_embedding_hnsw_{DIMS} ON knowledge_chunk "
                f"USING hnsw ((embedding::vector({DIMS})) vector_cosine_ops) WHERE dims = {DIMS}"
            )
            hnsw_s = time.perf_counter() - start
            print(f"  HNSW built in {hnsw_s:.1f} s", flush=True)
            cursor.execute("CREATE INDEX chunk_search_vector ON knowledge_chunk USING gin (search_vector)")
            cursor.execute("ANALYZE knowledge_chunk")
        from apps.knowledge.keywords import stats_rebuild  # BM25 statistics: the load went around ingestion
        from apps.knowledge.models import KnowledgeBase

        for knowledge_base_id in KnowledgeBase.objects.values_list("id", flat=True):
            with transaction.atomic():
                stats_rebuild(knowledge_base_id)
    index_s = time.perf_counter() - start
    print(f"search: {total} chunks in {OTHER_TENANTS + 1} tenants ({chunks} in the measured one)")
    print(f"  COPY load {load_s:.1f} s, HNSW build {hnsw_s:.1f} s, + GIN + ANALYZE {index_s:.1f} s")

    rnd = random.Random(3)
    texts = []
    for _ in range(queries):
        words = topic_words(rnd.randrange(space.topics))
        texts.append(f"What does the {words[0]} {rnd.choice(VOCABULARY[50:500])} say about {words[1]}?")
    print(f"  load average {os.getloadavg()[0]:.2f} (2 cores shared: compare the rows of one run)", flush=True)

    def timed(fn: Any) -> float:
        begin = time.perf_counter()
        fn()
        return (time.perf_counter() - begin) * 1000

    def before(q: str) -> Any:  # the previous serving path: torch query embedding, halves one after the other
        with torch_queries():
            return knowledge_search(knowledge_base=target, query=q, k=10, mode="hybrid", concurrent=False)

    def after(q: str) -> Any:  # ONNX fp32 query embedding, keyword half beside the vector half
        return knowledge_search(knowledge_base=target, query=q, k=10, mode="hybrid")

    for q in texts[:3]:  # load both embedders (not the pages: the query words differ)
        before("warm up the model " + q[-12:])
        after("warm up the model " + q[-12:])
    rows: dict[str, list[float]] = {}
    # each cold pass right after a server restart (shared buffers empty, the OS cache as it is)
    rows["after, cold (first pass after the restart)"] = [timed(lambda q=q: after(q)) for q in texts]
    restart_server()
    before("warm up the model")
    rows["before, cold (first pass after the restart)"] = [timed(lambda q=q: before(q)) for q in texts]
    restart_server()
    from apps.knowledge.warmup import search_warm_up

    report = search_warm_up()
    print(
        f"  warm-up after the restart: {report.read_pages} pages read ({report.touched_pages} touched) of a "
        f"{report.budget_pages}-page budget in {report.seconds:.1f} s: {'; '.join(report.steps)}",
        flush=True,
    )
    after("warm up the model")
    rows["after, restart + warm-up (first pass)"] = [timed(lambda q=q: after(q)) for q in texts]
    for _ in range(2):  # warm: interleaved, the same queries again
        rows.setdefault("before, warm", []).extend(timed(lambda q=q: before(q)) for q in texts)
        rows.setdefault("after, warm", []).extend(timed(lambda q=q: after(q)) for q in texts)
    for name, values in rows.items():
        print(
            f"  hybrid {name}: p50 {percentile(values, 0.5):.1f} ms, p95 {percentile(values, 0.95):.1f} ms, "
            f"p99 {percentile(values, 0.99):.1f} ms (n={len(values)})",
            flush=True,
        )
    assert [h.chunk_id for h in before(texts[0]).hits] == [h.chunk_id for h in after(texts[0]).hits]

    # the parts, warm, query by query
    from apps.knowledge.embeddings import LocalEmbedder
    from apps.knowledge.query_embedder import embed_query
    from apps.knowledge.search import _fuse, _keyword_ranked

    parts: dict[str, list[float]] = {}

    def part(name: str, fn: Any, *args: Any) -> Any:
        begin = time.perf_counter()
        value = fn(*args)
        parts.setdefault(name, []).append((time.perf_counter() - begin) * 1000)
        return value

    for q in texts:
        part("embed, torch (before)", LocalEmbedder().embed, [q])
        vector = part("embed, ONNX fp32 (after)", embed_query, q)
        keyword_ranked, _ = part("keyword half", _keyword_ranked, target, q, _no_filters(), 10)
        vector_ranked = part("vector half (SQL)", _vector_ranked, target, vector, _no_filters(), 10)
        part("fuse", _fuse, "hybrid", vector_ranked, keyword_ranked)
    for name, values in parts.items():
        print(f"    {name}: p50 {percentile(values, 0.5):.2f} ms, p95 {percentile(values, 0.95):.2f} ms")
    hybrid = rows["after, cold (first pass after the restart)"]
    hybrid_warm = rows["after, warm"]
    print(f"  load average {os.getloadavg()[0]:.2f}", flush=True)
    if not recall_too:
        return {"hybrid_p95": percentile(hybrid, 0.95), "hybrid_warm_p95": percentile(hybrid_warm, 0.95)}

    query_topics = space.rng.integers(0, space.topics, size=queries)
    query_vectors = space.near(query_topics)

    def recall(knowledge_base: Any, kb_ids: Any, kb_vectors: Any, limit: int) -> tuple[float, list[float]]:
        found, times = 0, []
        for vector in query_vectors:
            exact = set(kb_ids[np.argsort(-(kb_vectors @ vector))[:10]].tolist())
            begin = time.perf_counter()
            ranked = _vector_ranked(knowledge_base, [float(x) for x in vector], _no_filters(), limit)
            times.append((time.perf_counter() - begin) * 1000)
            found += len(exact & {chunk_id for chunk_id, _ in ranked[:10]})
        return found / (10 * len(query_vectors)), times

    recall_10, vector_ms = recall(target, ids, vectors, 10)
    recall_pool, _ = recall(target, ids, vectors, 40)  # hybrid asks the vector side for 40
    small_kb, small_ids, small_vectors = small  # type: ignore[misc]
    recall_small, _ = recall(small_kb, small_ids, small_vectors, 10)

    exact_ms = []
    for vector in query_vectors[: min(30 if chunks <= 200_000 else 5, queries)]:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            begin = time.perf_counter()
            _vector_ranked(target, [float(x) for x in vector], _no_filters(), 10)
            exact_ms.append((time.perf_counter() - begin) * 1000)

    print(
        f"  vector search (HNSW, k=10): p50 {percentile(vector_ms, 0.5):.1f} ms, "
        f"p95 {percentile(vector_ms, 0.95):.1f} ms, "
        f"p99 {percentile(vector_ms, 0.99):.1f} ms"
        f"; exact scan of the same tenant p50 {percentile(exact_ms, 0.5):.1f} ms "
        f"(ratio {percentile(exact_ms, 0.5) / percentile(vector_ms, 0.5):.1f}x)"
    )
    print(
        f"  recall@10 vs exact: {recall_10:.3f} (k=10), {recall_pool:.3f} (top 10 of the hybrid's 40), "
        f"{recall_small:.3f} (a 10,000-chunk tenant, k=10)"
    )
    return {
        "hybrid_p50": percentile(hybrid, 0.5),
        "hybrid_p95": percentile(hybrid, 0.95),
        "hybrid_p99": percentile(hybrid, 0.99),
        "hybrid_warm_p95": percentile(hybrid_warm, 0.95),
        "recall": recall_10,
        "recall_pool": recall_pool,
        "recall_small": recall_small,
    }


def restart_server() -> None:
    """Stops and starts the embedded PostgreSQL (its shared buffers empty; the OS cache stays)."""
    from django.db import connection

    from apps.config.embedded_pg import server_start, server_stop

    connection.close()
    connection.close_pool()
    pgdata = Path(os.environ["TRELLIS_DATA_DIR"]) / "pg"
    server_stop(pgdata)
    server_start(pgdata)


@contextlib.contextmanager
def torch_queries() -> Any:
    """Queries embedded by torch, as before the ONNX query embedder (bench only)."""
    from apps.knowledge import query_embedder

    loaded, query_embedder._loaded = query_embedder._loaded, None
    query_embedder._failed = True
    try:
        yield
    finally:
        query_embedder._loaded, query_embedder._failed = loaded, False


def _no_filters() -> Any:
    from apps.knowledge.search import SearchFilters

    return SearchFilters()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdfs", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--html-pages", type=int, default=20)
    parser.add_argument("--html-rounds", type=int, default=3, help="job / embedder-alone rounds (median ratio)")
    parser.add_argument("--html-ab", action="store_true", help="also time the jobs without the embedding ahead")
    parser.add_argument(
        "--html-nice-ab", action="store_true", help="also time the jobs with their side work not lowered"
    )
    parser.add_argument(
        "--html-window-ab", action="store_true", help="also time the jobs with one document per embedding call"
    )
    parser.add_argument("--only", choices=["ingest", "html", "search"], default=None)
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    parser.add_argument("--no-recall", action="store_true", help="search: latency only (no recall@10, no exact scan)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="use (and keep) this data dir, its own PostgreSQL cluster; a second run with the same one "
        "reuses the loaded chunks and indexes (search)",
    )
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="tkb-", dir="/tmp"))
    data_dir.mkdir(parents=True, exist_ok=True)
    args.keep = args.keep or args.data_dir is not None
    print(f"data dir {data_dir}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    try:
        setup_django(data_dir)
        if args.only in (None, "ingest"):
            bench_parsing(args.pdfs)
            bench_embedding(args.rounds)
        if args.only in (None, "html"):
            bench_html(args.html_pages, args.html_rounds, args.html_ab, args.html_nice_ab, args.html_window_ab)
        if args.only in (None, "search"):
            bench_search(args.chunks, args.queries, recall_too=not args.no_recall)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
