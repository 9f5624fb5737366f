"""The response cache (apps/serving/cache.py, apps/serving/semantic.py): hit rate on a paraphrase
set, the question embedder alone, the server-side latency of a hit, and the lookup at N cached
entries with realistic vectors.

    TRELLIS_DB_NAME=trellis_bench_semantic .venv/bin/python tests/bench/bench_semantic_cache.py [--entries 100000]
    ... --short   (20,000 entries, fewer samples: a quick check)
    ... --hits-only / --lookups-only   (sections 1-3 / section 4 only)

1. Paraphrases: 40 questions are cached (real embeddings, all-MiniLM-L6-v2); then each one's
   paraphrase is asked (a hit should answer it with its own question's answer) and 40 unrelated
   questions (a hit would be a wrong answer). Hit rate, wrong hits and false hits per threshold.
   Once with the torch embedder, once with ONNX Runtime int8 (the default now: fused, signed int8
   weights) and once with the previous ONNX export (unfused, unsigned int8; previous_embedder).
2. The embedder alone on short questions: SentenceTransformer.encode (the baseline) against the
   direct transformer call, at torch's default threads and at one thread; the ONNX Runtime int8
   embedder the cache uses now (apps.serving.question_embedder) at one thread, interleaved
   question by question with the previous export (its p50 ratio: the embedder A/B); and a
   remembered question (the cache's LRU of recent question vectors).
3. Hit latency through the gateway (RoutedChatModel, server-side: from the call to the last
   chunk), through `astream_chunks` as flows.nodes.llm calls it (the served path) and through
   LangChain's `ainvoke`: an exact-cache hit (the baseline), a semantic hit on a question not seen
   before (a real question, its remembered vector forgotten first: the embedding runs) and on a
   repeated question (its vector remembered), with the split: the embedding's wall time [and its
   thread's CPU time: wall above CPU is waiting for a core], database lookup, the rest. With the
   ONNX embedder, "now" and "before" (semantic.EARLY_START off: the previous path whole, the lookup
   through in_db_thread after the exact cache and the search as one query string) interleaved
   sample by sample, with their p50 ratio, and "previous export" (the served path as now with the
   previous ONNX export: the embedder A/B, "now/previous export") and "text vector" (the
   question's vector bound as pgvector's text literal instead of its binary form: the lookup's
   A/B); the torch embedder (history) on the served path only.
   (tests/bench/bench_cache_embedders.py compares more embedders, without the database.)
4. Lookup at N entries: N realistic vectors (normalised mixtures of two real sentence embeddings
   and a little noise, from ~1,700 embedded sentences) in one table, in scopes of three sizes:
   one of N/2, four of N/10, ten of N/100 rows. Per scope size: the cache's lookup (exact scan up
   to EXACT_SCAN_MAX rows a scope, HNSW above; settings and search in one round trip), the previous
   lookup (HNSW with iterative scan for every scope, in a transaction: BEGIN, settings, search,
   COMMIT) and an exact scan of the scope (the baseline, timed in a pass of its own after the
   others unless --interleave-exact), p50/p95, and how often each found the scope's true nearest row.

The database is its own (TRELLIS_DB_NAME); the script empties its cache table first.
Prints figures; asserts nothing. The machine may be shared: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")
os.environ.setdefault("TRELLIS_DB_NAME", "trellis_bench_semantic")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from tests.bench.benchlib import percentile  # noqa: E402

PAIRS = [
    ("How do I reset my password?", "I forgot my password, how can I change it?"),
    ("What are your opening hours?", "When are you open?"),
    ("How much does shipping to Germany cost?", "What is the delivery fee for Germany?"),
    ("Can I return an item after 30 days?", "Is it possible to send a product back after a month?"),
    ("How do I cancel my subscription?", "I want to stop my subscription, what do I do?"),
    ("Do you offer student discounts?", "Is there a discount for students?"),
    ("Where can I download my invoice?", "How do I get a copy of my bill?"),
    ("How long does delivery take?", "How many days until my order arrives?"),
    ("Can I change my delivery address?", "Is it possible to update the shipping address of my order?"),
    ("Which payment methods do you accept?", "How can I pay for my order?"),
    ("How do I contact customer support?", "What is the best way to reach your help desk?"),
    ("Is my data shared with third parties?", "Do you sell or give my personal data to other companies?"),
    ("How do I delete my account?", "I would like to remove my account permanently."),
    ("Can I use the app offline?", "Does the application work without an internet connection?"),
    ("What is the warranty on laptops?", "How long are laptops covered by warranty?"),
    ("How do I add a team member?", "How can I invite a colleague to my workspace?"),
    ("Why was my card declined?", "My payment was refused, what happened?"),
    ("Do you ship internationally?", "Can you deliver outside the country?"),
    ("How can I track my parcel?", "Where can I see the status of my shipment?"),
    ("What is the size guide for shoes?", "How do I pick the right shoe size?"),
    ("Can I get a refund for a digital download?", "Are digital purchases refundable?"),
    ("How do I enable two-factor authentication?", "How can I turn on 2FA for my account?"),
    ("Is there a free trial?", "Can I try the product for free first?"),
    ("How do I upgrade my plan?", "I want to move to a bigger plan, how?"),
    ("What happens when my plan expires?", "What if I don't renew my plan?"),
    ("Can I pause my membership?", "Is it possible to put my membership on hold?"),
    ("How do I change the language of the app?", "Where can I switch the interface language?"),
    ("Where is your head office?", "What is the address of your headquarters?"),
    ("Do you have a mobile app?", "Is there an app for phones?"),
    ("How are my passwords stored?", "Do you keep my password in plain text?"),
    ("Can I order by phone?", "Is it possible to place an order over the telephone?"),
    ("What is your privacy policy?", "Where can I read how you handle privacy?"),
    ("How do I export my data?", "Can I download all my data?"),
    ("Why is the website so slow?", "The site takes ages to load, why?"),
    ("Can I book an appointment online?", "Is online booking of appointments possible?"),
    ("How many users can share one license?", "How many people may use a single license?"),
    ("Do prices include VAT?", "Is tax included in the price?"),
    ("How do I report a bug?", "Where should I send a problem I found in the software?"),
    ("Can I gift a subscription?", "Is it possible to buy a subscription for someone else?"),
    ("How do I unsubscribe from the newsletter?", "How can I stop receiving your marketing e-mails?"),
]
UNRELATED = [
    "What is the capital of Australia?",
    "How do volcanoes form?",
    "Recommend a good book about the Roman empire.",
    "What is the boiling point of water at altitude?",
    "Who painted the Mona Lisa?",
    "How do I bake sourdough bread?",
    "Explain quantum entanglement simply.",
    "What is the best way to learn the guitar?",
    "How tall is Mount Everest?",
    "Translate 'good morning' into Japanese.",
    "What causes the northern lights?",
    "How many players are on a football team?",
    "Write a haiku about autumn.",
    "What is the difference between a virus and a bacterium?",
    "How do airplanes stay in the air?",
    "What is the population of Brazil?",
    "How do I grow tomatoes on a balcony?",
    "Who won the chess world championship in 1972?",
    "What is a prime number?",
    "Why is the sky blue?",
    "How long do cats live?",
    "What is the speed of light?",
    "Suggest a name for a golden retriever.",
    "How do I tie a bowline knot?",
    "What is photosynthesis?",
    "How deep is the Pacific Ocean?",
    "What is inflation in economics?",
    "How do I make cold brew coffee?",
    "Who invented the telephone?",
    "What language is spoken in Brazil?",
    "How do bees make honey?",
    "What is the plot of Hamlet?",
    "How far is the Moon from the Earth?",
    "What is machine learning?",
    "How do I clean a cast iron pan?",
    "What is the tallest building in the world?",
    "Why do leaves change colour in autumn?",
    "How many bones are in the human body?",
    "What is the Pythagorean theorem?",
    "How do I meditate?",
]
THRESHOLDS = (0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90)


def _org() -> object:
    from apps.tenancy.access import Actor
    from apps.tenancy.services import organization_create

    user = User.objects.create_user(f"bench-{uuid.uuid4().hex[:8]}", None, "bench passphrase 1")
    return organization_create(actor=Actor(user=user, api_key=None), name="Semantic bench")


def paraphrases(org_id: str) -> None:
    from apps.serving import semantic

    scope = uuid.uuid4().hex + uuid.uuid4().hex
    answers = {}
    for n, (question, _) in enumerate(PAIRS):
        q = semantic.Question(org_id, None, scope, question)
        semantic.store(
            q,
            semantic.EMBEDDER.embed(question),
            f"answer {n}",
            input_tokens=1,
            output_tokens=1,
            cost=Decimal(0),
            ttl_s=3600,
        )
        answers[f"answer {n}"] = n
    table = semantic.SemanticCacheEntry._meta.db_table

    def nearest(text: str) -> tuple[int, float]:
        vector = semantic.EMBEDDER.embed(text)
        hit = semantic.lookup_vector(scope, vector, -1.0)
        assert hit is not None, table
        return answers[hit.answer], hit.similarity

    para = [(n, *nearest(p)) for n, (_, p) in enumerate(PAIRS)]
    other = [nearest(u)[1] for u in UNRELATED]
    print(f"paraphrase set: {len(PAIRS)} cached questions, {len(PAIRS)} paraphrases, {len(UNRELATED)} unrelated")
    print("threshold  paraphrase hits (right answer)  wrong-answer hits  unrelated false hits")
    for t in THRESHOLDS:
        right = sum(1 for n, got, sim in para if sim >= t and got == n)
        wrong = sum(1 for n, got, sim in para if sim >= t and got != n)
        false = sum(1 for sim in other if sim >= t)
        print(
            f"  {t:.2f}     {right}/{len(PAIRS)} = {right / len(PAIRS):.2f}"
            f"              {wrong}                  {false}/{len(UNRELATED)}"
        )
    sims = sorted(sim for _, _, sim in para)
    print(
        f"  paraphrase similarity p10 {percentile(sims, 0.1):.3f} p50 {percentile(sims, 0.5):.3f};"
        f" unrelated max {max(other):.3f}"
    )


SUBJECTS = [
    "my password", "my order", "the invoice", "my subscription", "the app", "my account", "the delivery",
    "a refund", "my card", "the warranty", "my parcel", "the newsletter", "my team", "the API key",
    "the report", "my profile", "the plan", "the booking", "the license", "the shop",
]  # fmt: skip
VERBS = [
    "How do I change", "Where can I find", "Why can't I open", "Can I cancel", "How long does it take to get",
    "Who can see", "What happens to", "Is it possible to share", "How much does it cost to upgrade",
    "When will I receive",
]  # fmt: skip
TAILS = ["", " on my phone", " in Germany", " after 30 days", " for my company", " without logging in", " today"]


def sentences(limit: int | None = None) -> list[str]:
    """Real questions: the paraphrase set and templated support questions."""
    made = [f"{v} {s}{t}?" for v in VERBS for s in SUBJECTS for t in TAILS]
    found = [q for pair in PAIRS for q in pair] + UNRELATED + made
    return found[:limit] if limit else found


def _timed(fn: object, texts: list[str], repeats: int) -> list[float]:
    out = []
    for i in range(repeats):
        started = time.perf_counter()
        fn(texts[i % len(texts)])  # type: ignore[operator]
        out.append((time.perf_counter() - started) * 1000)
    return out


PREVIOUS_ID = "all-minilm-l6-v2/onnx-int8-per-channel/1"
PREVIOUS_FOLDER = "semantic-cache-minilm-onnx-int8-v1"


def previous_embedder() -> Any:
    """The cache's question embedder before (the baseline of the embedder A/B): the plain
    TorchScript export (SDPA attention, nothing fused) with unsigned int8 weights per channel,
    as apps.serving.question_embedder made it up to EMBEDDER_ID .../1. Its folder is reused where
    an earlier version of the code exported it; else it is made here from the same fp32 export."""
    import logging

    from django.conf import settings
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from apps.serving import question_embedder

    target = Path(settings.MODEL_EXPORT_DIR) / PREVIOUS_FOLDER
    if not (target / question_embedder.MODEL_FILE).exists():
        made = Path(settings.MODEL_EXPORT_DIR) / "bench-previous-question-embedder"
        if not (made / question_embedder.MODEL_FILE).exists():
            plain = question_embedder.export(
                made.with_name(made.name + "-fp32"), quantize=False, embedder_id=PREVIOUS_ID
            )
            made.mkdir(parents=True, exist_ok=True)
            for name in (question_embedder.TOKENIZER_FILE, "embedder.json"):
                (made / name).write_bytes((plain / name).read_bytes())
            logging.disable(logging.INFO)
            try:
                quantize_dynamic(
                    str(plain / question_embedder.MODEL_FILE),
                    str(made / question_embedder.MODEL_FILE),
                    per_channel=True,
                    weight_type=QuantType.QUInt8,
                )
            finally:
                logging.disable(logging.NOTSET)
        target = made
    return question_embedder.OnnxEmbedder(target, 1)


@contextlib.contextmanager
def using(embedder: object | None) -> Iterator[None]:
    """The cache runs `embedder` (the previous export) instead of its own within the block. Its
    memo of recent vectors is keyed by EMBEDDER_ID, which stays the same here: a caller that
    compares vectors forgets them (the latency section only times them)."""
    from apps.serving import semantic

    if embedder is None:
        yield
        return
    own = semantic._onnx
    semantic._onnx = lambda: embedder  # type: ignore[assignment]
    try:
        yield
    finally:
        semantic._onnx = own


def embedder(samples: int) -> None:
    import torch

    from apps.serving import semantic

    model, direct = semantic._model()
    texts = sentences()[:200]

    def encode(text: str) -> object:
        return model.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    def direct_call(text: str) -> object:
        return semantic._direct(model, text)

    fresh = semantic._Embedder()
    before = torch.get_num_threads()  # what the loaded embedder set (SEMANTIC_CACHE_TORCH_THREADS)
    default_threads = max(before, os.cpu_count() or 1)
    print(f"question embedder alone ({samples} short questions each; direct path in use: {direct}):")
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        _timed(encode, texts, 10)  # warm
        base = _timed(encode, texts, samples)
        mine = _timed(direct_call, texts, samples)
        print(
            f"  torch threads {threads}: encode (baseline) p50 {percentile(base, 0.5):.2f} ms"
            f" p95 {percentile(base, 0.95):.2f} ms | direct p50 {percentile(mine, 0.5):.2f} ms"
            f" p95 {percentile(mine, 0.95):.2f} ms | ratio p50 {percentile(mine, 0.5) / percentile(base, 0.5):.2f}"
        )
    torch.set_num_threads(before)
    onnx = semantic._onnx()  # the cache's default embedder: ONNX Runtime, int8 weights, one thread
    previous = previous_embedder()
    _timed(onnx.encode, texts, 10)
    _timed(previous.encode, texts, 10)
    fast: list[float] = []
    old: list[float] = []
    cpu_fast: list[float] = []
    cpu_old: list[float] = []
    for i in range(samples):  # the export now and before, interleaved question by question
        text = texts[i % len(texts)]
        pairs = [(onnx.encode, fast, cpu_fast), (previous.encode, old, cpu_old)]
        for fn, out, cpu_out in pairs if i % 2 else pairs[::-1]:
            started, cpu = time.perf_counter(), time.thread_time()
            fn(text)
            out.append((time.perf_counter() - started) * 1000)
            cpu_out.append((time.thread_time() - cpu) * 1000)
    print(
        f"  ONNX Runtime int8 (the cache's embedder), 1 thread: p50 {percentile(fast, 0.5):.2f} ms"
        f" p95 {percentile(fast, 0.95):.2f} ms | ratio p50 to the direct torch call at 1 thread"
        f" {percentile(fast, 0.5) / percentile(mine, 0.5):.3f}"
    )
    print(
        f"  the previous export (unfused, unsigned int8), interleaved with it: p50 {percentile(old, 0.5):.2f} ms"
        f" p95 {percentile(old, 0.95):.2f} ms | now/previous p50 {percentile(fast, 0.5) / percentile(old, 0.5):.3f};"
        f" CPU p50 {percentile(cpu_fast, 0.5):.2f} / {percentile(cpu_old, 0.5):.2f} ms,"
        f" now/previous {percentile(cpu_fast, 0.5) / percentile(cpu_old, 0.5):.3f}"
    )
    # The same questions as section 3's new questions, in this thread back to back: wall and CPU
    # time (wall above CPU is time spent waiting for a core).
    unseen = [text for text in sentences() if text != PAIRS[0][0]]
    walls, cpus = [], []
    for i in range(samples):
        started, cpu = time.perf_counter(), time.thread_time()
        onnx.encode(unseen[i % len(unseen)])
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.thread_time() - cpu) * 1000)
    print(
        f"  ONNX Runtime int8 on section 3's new questions: p50 {percentile(walls, 0.5):.2f} ms"
        f" (cpu {percentile(cpus, 0.5):.2f} ms)"
    )
    fresh.embed(texts[0])
    remembered = _timed(fresh.embed, [texts[0]], samples)
    print(f"  remembered question (LRU)  p50 {percentile(remembered, 0.5):.3f} ms")


def hit_latency(org: object, samples: int, embedder: str = "onnx") -> None:
    from langchain_core.messages import HumanMessage

    from apps.serving import accounting, semantic
    from apps.serving.accounting import Meter
    from apps.serving.cache import ANSWERS
    from apps.serving.gateway import EndpointSnapshot, GatewayModels, Timeouts
    from flows.ports import CachePolicy

    version = uuid.uuid4()
    endpoint = EndpointSnapshot(
        alias="cached",
        kind="chat",
        base_url="http://127.0.0.1:9/v1",  # never reached: every call below is a hit
        model="m",
        supports_tools=False,
        price_input_per_1k=Decimal(0),
        price_output_per_1k=Decimal(1),
        timeouts=Timeouts(1, 1, 1),
        instance_owned=True,
    )
    meter = Meter(organization_id=str(org.pk), version_id=version)  # type: ignore[attr-defined]
    gateway = GatewayModels([endpoint], meter=meter)
    # A node's setting; the threshold below any similarity (bench only): every question is a hit on
    # the one stored row, so each call below measures a hit's path, whatever the question.
    policy = CachePolicy("semantic", ttl_s=3600, threshold=-1.0)
    model = gateway.chat_model("cached", temperature=0, max_tokens=32, cache=policy)
    params = {**model.cache_params, "stop": None, "kwargs": {}}  # type: ignore[attr-defined]
    question = PAIRS[0][0]
    q = semantic.question_of(
        organization_id=str(org.pk),  # type: ignore[attr-defined]
        flow_id=None,
        version_id=version,
        alias="cached",
        params=params,
        messages=[HumanMessage(content=question)],
    )
    assert q is not None
    vector = semantic.EMBEDDER.embed(question)
    semantic.store(q, vector, "cached answer", input_tokens=10, output_tokens=20, cost=Decimal("0.02"), ttl_s=3600)
    key = ANSWERS.key(str(org.pk), "cached", {**params, "version": version}, [HumanMessage(content=question)])  # type: ignore[attr-defined]
    ANSWERS.put(key, "exact answer", 10, 20, 3600)
    unseen = [text for text in sentences() if text != question]

    async def timed(text: str, served: bool) -> tuple[float, str, float, float, float]:
        """One call: through `astream_chunks` as the LLM node calls it (served) or `ainvoke`."""
        started = time.perf_counter()
        if served:
            parts, meta = [], {}
            async with contextlib.aclosing(model.astream_chunks([HumanMessage(content=text)])) as stream:  # type: ignore[attr-defined]
                async for chunk in stream:
                    parts.append(str(chunk.content))
                    meta = getattr(chunk, "response_metadata", None) or meta
            content = "".join(parts)
        else:
            reply = await model.ainvoke([HumanMessage(content=text)])
            content, meta = str(reply.content), reply.response_metadata
        return (
            (time.perf_counter() - started) * 1000,
            content,
            meta.get("embed_ms", 0.0),
            meta.get("embed_cpu_ms", 0.0),
            meta.get("lookup_ms", 0.0),
        )

    # Variants, interleaved sample by sample (the machine's load changes under a run): the served
    # path (astream_chunks, as flows.nodes.llm calls it) and ainvoke (LangChain's wrapper around
    # it), each with the lookup started early in the cache's own thread ("now") and through
    # in_db_thread after the exact cache missed ("before": semantic.EARLY_START off).
    # "previous export": the served path as now, with the question embedder before (unfused,
    # unsigned int8 weights; previous_embedder): the embedder A/B.
    previous = previous_embedder() if embedder == "onnx" else None
    # "text vector": as now, with the question's vector bound as pgvector's text literal
    # (semantic.BINARY_VECTOR off): the lookup's A/B.
    variants = [("served, now", True, True, None, True), ("served, previous export", True, True, previous, True)]
    variants += [("served, text vector", True, True, None, False)]
    variants += [("served, before", True, False, None, True), ("ainvoke, now", False, True, None, True)]
    variants += [("ainvoke, before", False, False, None, True)]
    if embedder != "onnx":  # the torch embedder (history): the served path as it is now, only
        variants = variants[:1]

    async def measure() -> dict[str, list[tuple[float, float, float, float]]]:
        found: dict[str, list[tuple[float, float, float, float]]] = {}
        for i in range(samples):
            new = unseen[i % len(unseen)]  # a real question; its vector forgotten before each call
            order = variants[i % len(variants) :] + variants[: i % len(variants)]
            for label, served, early, other, binary in order:
                semantic.EARLY_START, semantic.BINARY_VECTOR = early, binary
                try:
                    with using(other):
                        ms, text, *_ = await timed(question, served)
                        assert text == "exact answer", text
                        found.setdefault(f"exact | {label}", []).append((ms, 0.0, 0.0, 0.0))
                        semantic.EMBEDDER.forget(new)
                        ms, text, embed, cpu, lookup = await timed(new, served)
                        assert text == "cached answer", text
                        found.setdefault(f"new question | {label}", []).append((ms, embed, cpu, lookup))
                        ms, text, embed, cpu, lookup = await timed(PAIRS[0][1], served)  # remembered after the first
                        assert text == "cached answer", text
                        found.setdefault(f"repeated question | {label}", []).append((ms, embed, cpu, lookup))
                finally:
                    semantic.EARLY_START = semantic.BINARY_VECTOR = True
        await accounting.flush()
        return found

    found = asyncio.run(measure())
    tokens = [len(semantic._onnx().tokenizer.encode(unseen[i % len(unseen)]).ids) for i in range(samples)]
    print(
        f"hit latency through the gateway, server-side, {samples} each, question embedder {embedder}"
        f" (new questions: {sum(tokens) / len(tokens):.1f} tokens on average):"
    )
    for name, rows in found.items():
        total = [r[0] for r in rows]
        kind, label = name.split(" | ")
        p50 = percentile(total, 0.5)
        ratio = ""
        before = found.get(name.replace(", now", ", before"))
        if before is not None and before is not rows:
            ratio = f"  now/before p50 {p50 / percentile([r[0] for r in before], 0.5):.2f}"
        for other in ("previous export", "text vector"):
            old = found.get(name.replace(", now", f", {other}"))
            if old is not None and old is not rows:
                ratio += f"  now/{other} p50 {p50 / percentile([r[0] for r in old], 0.5):.2f}"
        print(
            f"  {kind:<18} {label:<16} p50 {p50:6.2f} ms  p95 {percentile(total, 0.95):6.2f} ms"
            f"  (p50 embed {percentile([r[1] for r in rows], 0.5):.2f}"
            f" [cpu {percentile([r[2] for r in rows], 0.5):.2f}]"
            f" / lookup {percentile([r[3] for r in rows], 0.5):.2f}"
            f" / rest {percentile([r[0] - r[1] - r[3] for r in rows], 0.5):.2f} ms){ratio}"
        )


OLD_LOOKUP = """SELECT answer, embedding <=> %(q)s::vector FROM {table} WHERE scope = %(scope)s
    AND expires_at > now() ORDER BY embedding <=> %(q)s::vector LIMIT 1"""
EXACT_LOOKUP = """SELECT answer, (embedding <=> %(q)s::vector) + 0 AS d FROM {table} WHERE scope = %(scope)s
    AND expires_at > now() ORDER BY d LIMIT 1"""


def _vectors(count: int, base: object, rng: object) -> object:
    import numpy as np

    a = base[rng.integers(0, len(base), count)]  # type: ignore[index,attr-defined,arg-type]
    b = base[rng.integers(0, len(base), count)]  # type: ignore[index,attr-defined,arg-type]
    mixed = a + 0.6 * b + rng.normal(0, 0.02, a.shape)  # type: ignore[attr-defined]
    return mixed / np.linalg.norm(mixed, axis=1, keepdims=True)


def lookups(org: object, entries: int, queries: int, interleave_exact: bool = False, ef_alt: int = 0) -> None:
    import numpy as np

    from apps.serving import semantic
    from apps.serving.models import SemanticCacheEntry

    table = SemanticCacheEntry._meta.db_table
    model, _ = semantic._model()
    started = time.perf_counter()
    base = model.encode(sentences(), batch_size=128, normalize_embeddings=True, show_progress_bar=False)
    embedded = time.perf_counter() - started
    rng = np.random.default_rng(7)
    layout = [("half", 1, entries // 2), ("tenth", 4, entries // 10), ("hundredth", 10, entries // 100)]
    with connection.cursor() as cursor:  # built once after loading: faster than kept up per row
        cursor.execute("DROP INDEX IF EXISTS semantic_cache_hnsw")
    started = time.perf_counter()
    scopes: dict[str, list[tuple[str, object]]] = {}
    now = timezone.now()
    expires = now + timezone.timedelta(days=1)
    columns = (
        "organization_id, scope, question, embedding, answer, input_tokens, output_tokens, cost, created_at, expires_at"
    )
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for name, count, size in layout:
            for _ in range(count):
                scope = uuid.uuid4().hex + uuid.uuid4().hex
                vectors = _vectors(size, base, rng)
                scopes.setdefault(name, []).append((scope, vectors))
                for n, row in enumerate(vectors):  # type: ignore[arg-type]
                    literal = "[" + ",".join(f"{x:.6g}" for x in row) + "]"
                    row_out = (org.pk, scope, f"q{n}", literal, f"{scope[:6]}-{n}", 1, 1, 0, now, expires)  # type: ignore[attr-defined]
                    copy.write_row(row_out)
    written = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(
            f"CREATE INDEX semantic_cache_hnsw ON {table} USING hnsw (embedding vector_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )
        cursor.execute(f"VACUUM ANALYZE {table}")
    built = time.perf_counter() - started - written
    print(
        f"{entries:,} realistic entries ({len(base)} sentences embedded in {embedded:.0f} s):"
        f" written in {written:.0f} s, HNSW index built in {built:.0f} s;"
        f" EXACT_SCAN_MAX {semantic.EXACT_SCAN_MAX}"
    )

    def run(sql: str, scope: str, vector: object) -> str | None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true),"
                " set_config('hnsw.ef_search', %s, true), set_config('max_parallel_workers_per_gather', '0', true)",
                [str(semantic.EF_SEARCH)],
            )
            cursor.execute(sql.format(table=table), {"scope": scope, "q": semantic._literal(vector)})  # type: ignore[arg-type]
            row = cursor.fetchone()
        return None if row is None else str(row[0])

    for name, count, size in layout:
        cases = []
        for i in range(queries):
            scope, vectors = scopes[name][i % count]
            if i % 2 == 0:  # near a stored row: a paraphrase-like question (similarity ~0.9)
                near = vectors[int(rng.integers(0, size))] + rng.normal(0, 0.012, 384)  # type: ignore[index]
                cases.append((scope, near / np.linalg.norm(near)))
            else:  # a new question for this scope
                cases.append((scope, _vectors(1, base, rng)[0]))  # type: ignore[index]
        timings: dict[str, list[float]] = {"cache": [], "old": [], "exact": [], "alt": []}
        answers: dict[str, list[str | None]] = {"cache": [], "old": [], "exact": [], "alt": []}
        # The same query's second search finds its pages warm: each method goes first in turn. The
        # exact scan of the scope (the baseline, and the truth) runs in a pass of its own after the
        # others: a scan of a 50,000-row scope reads ~100 MB of heap, more than the default 128 MB of
        # shared buffers hold next to the 195 MB index, so interleaved it evicts the pages the next
        # HNSW search needs (a cost that the cache, which never scans more than EXACT_SCAN_MAX rows,
        # does not cause). --interleave-exact runs it interleaved, as this bench did before.
        order: tuple[str, ...] = ("cache", "old", "exact") if interleave_exact else ("cache", "old")
        if ef_alt:
            order = (*order, "alt")
        passes = [(i, label) for i in range(len(cases)) for label in order[i % len(order) :] + order[: i % len(order)]]
        if not interleave_exact:
            passes += [(i, "exact") for i in range(len(cases))]
        for i, label in passes:
            scope, vector = cases[i]
            t0 = time.perf_counter()
            if label in ("cache", "alt"):
                ef = semantic.EF_SEARCH
                semantic.EF_SEARCH = ef_alt if label == "alt" else ef
                try:
                    hit = semantic.lookup_vector(scope, [float(x) for x in vector], -1.0)
                finally:
                    semantic.EF_SEARCH = ef
                answer = hit.answer if hit else None
            else:
                answer = run(OLD_LOOKUP if label == "old" else EXACT_LOOKUP, scope, vector)
            timings[label].append((time.perf_counter() - t0) * 1000)
            answers[label].append(answer)
        truth = answers["exact"]
        print(f"  scopes of {size:,} rows ({count} of them), {queries} lookups (half near a stored row):")
        names = {
            "cache": f"the cache's lookup (ef {semantic.EF_SEARCH})",
            "alt": f"the cache's lookup, ef {ef_alt}",
            "old": "HNSW iterative (previous)",
            "exact": "exact scan (baseline)",
        }
        for label in ("cache", "alt", "old", "exact") if ef_alt else ("cache", "old", "exact"):
            right = sum(1 for got, want in zip(answers[label], truth, strict=True) if got == want)
            ms = timings[label]
            print(
                f"    {names[label]:<33} p50 {percentile(ms, 0.5):6.2f} ms  p95 {percentile(ms, 0.95):6.2f} ms"
                f"  true nearest {right}/{len(truth)}"
            )
    SemanticCacheEntry.objects.filter(organization_id=org.pk).delete()  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--short", action="store_true", help="20,000 entries, 50 samples, 60 queries")
    parser.add_argument("--lookups-only", action="store_true", help="only the lookup at N entries")
    parser.add_argument("--hits-only", action="store_true", help="paraphrases, the embedder and hit latency only")
    parser.add_argument(
        "--ef-search-alt", type=int, default=0, help="also time the cache's lookup at this hnsw.ef_search"
    )
    parser.add_argument(
        "--interleave-exact", action="store_true", help="time the exact-scan baseline between the others (as before)"
    )
    args = parser.parse_args()
    if args.short:
        args.entries, args.samples, args.queries = 20_000, 50, 60
    call_command("migrate", verbosity=0)
    from apps.serving.models import SemanticCacheEntry

    SemanticCacheEntry.objects.all().delete()
    org = _org()
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2-core machine shared: compare ratios)")
    if not args.lookups_only:
        from django.test import override_settings

        for name in ("torch", "onnx"):  # the embedder before (torch) and now (ONNX Runtime, int8)
            with override_settings(SEMANTIC_CACHE_EMBEDDER=name):
                print(f"question embedder: {name}")
                paraphrases(str(org.pk))  # type: ignore[attr-defined]
        from apps.serving import semantic

        semantic.EMBEDDER.forget()  # the memo is keyed by the id, the same for both exports
        with using(previous_embedder()):
            print("question embedder: the previous ONNX export (unfused, unsigned int8 weights)")
            paraphrases(str(org.pk))  # type: ignore[attr-defined]
        semantic.EMBEDDER.forget()
        embedder(args.samples)
        for name in ("torch", "onnx"):
            with override_settings(SEMANTIC_CACHE_EMBEDDER=name):
                hit_latency(org, args.samples, name)
    if not args.hits_only:
        lookups(org, args.entries, args.queries, args.interleave_exact, args.ef_search_alt)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
