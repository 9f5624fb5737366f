"""The semantic answer cache (apps/serving/semantic.py): hit rate on a paraphrase set, the
server-side latency of a hit, and the lookup at 100,000 cached entries.

    TRELLIS_DB_NAME=trellis_bench_semantic .venv/bin/python tests/bench/bench_semantic_cache.py [--entries 100000]

1. Paraphrases: 40 questions are cached (real embeddings, all-MiniLM-L6-v2); then each one's
   paraphrase is asked (a hit should answer it with its own question's answer) and 40 unrelated
   questions (a hit would be a wrong answer). Hit rate, wrong hits and false hits per threshold.
2. Hit latency: a semantic hit through the gateway (RoutedChatModel: embedding + pgvector lookup
   + the answer), against an exact-cache hit in the same run (the baseline), p50/p95.
3. Lookup at N entries: N vectors in one scope (and N spread over 100 scopes), 300 lookups each
   (half near a stored vector), HNSW with iterative scan against an exact scan of the same rows
   (the baseline), p50/p95 and how often the nearest stored vector was found.

The database is its own (TRELLIS_DB_NAME); the script empties its cache table first.
Prints figures; asserts nothing. The machine may be shared: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

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


def hit_latency(org: object, samples: int) -> None:
    from apps.serving import accounting
    from apps.serving.accounting import Meter
    from apps.serving.cache import ANSWERS
    from apps.serving.gateway import EndpointSnapshot, GatewayModels, Timeouts

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
        cache_ttl_s=3600,
        semantic_threshold=0.85,
        instance_owned=True,
    )
    meter = Meter(organization_id=str(org.pk), version_id=version)  # type: ignore[attr-defined]
    gateway = GatewayModels([endpoint], meter=meter)
    model = gateway.chat_model("cached", temperature=0, max_tokens=32)
    from langchain_core.messages import HumanMessage

    from apps.serving import semantic

    question, paraphrase = PAIRS[0]
    q = semantic.question_of(
        organization_id=str(org.pk),  # type: ignore[attr-defined]
        flow_id=None,
        version_id=version,
        alias="cached",
        params={**model.cache_params, "stop": None, "kwargs": {}},  # type: ignore[attr-defined]
        messages=[HumanMessage(content=question)],
    )
    assert q is not None
    semantic.store(
        q,
        semantic.EMBEDDER.embed(question),
        "cached answer",
        input_tokens=10,
        output_tokens=20,
        cost=Decimal("0.02"),
        ttl_s=3600,
    )
    key = ANSWERS.key(
        str(org.pk),
        "cached",
        {**model.cache_params, "stop": None, "kwargs": {}, "version": version},
        [HumanMessage(content=question)],
    )  # type: ignore[attr-defined]
    ANSWERS.put(key, "exact answer", 10, 20, 3600)

    async def timed(text: str) -> tuple[float, str, float]:
        started = time.perf_counter()
        reply = await model.ainvoke([HumanMessage(content=text)])
        lookup = float(reply.response_metadata.get("lookup_ms", 0.0))
        return (time.perf_counter() - started) * 1000, str(reply.content), lookup

    async def measure() -> tuple[list[float], list[float], list[float]]:
        exact, semantic_ms, lookup_ms = [], [], []
        for _ in range(samples):
            ms, text, _ = await timed(question)
            assert text == "exact answer", text
            exact.append(ms)
            ms, text, lookup = await timed(paraphrase)
            assert text == "cached answer", text
            semantic_ms.append(ms)
            lookup_ms.append(lookup)
        await accounting.flush()
        return exact, semantic_ms, lookup_ms

    exact, sem, lookup = asyncio.run(measure())
    print(f"hit latency through the gateway, {samples} each:")
    print(f"  exact cache (baseline)  p50 {percentile(exact, 0.5):.3f} ms  p95 {percentile(exact, 0.95):.3f} ms")
    print(f"  semantic cache          p50 {percentile(sem, 0.5):.2f} ms  p95 {percentile(sem, 0.95):.2f} ms")
    print(f"  of which embedding + lookup (database thread)  p50 {percentile(lookup, 0.5):.2f} ms")


def _unit(vector: list[float]) -> list[float]:
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector]


def lookups(org: object, entries: int, scopes: int, queries: int) -> None:
    from apps.serving import semantic
    from apps.serving.models import SEMANTIC_DIMENSIONS, SemanticCacheEntry

    table = SemanticCacheEntry._meta.db_table
    with connection.cursor() as cursor:  # built once after loading: faster than kept up per row
        cursor.execute("DROP INDEX IF EXISTS semantic_cache_hnsw")
    rng = random.Random(7)
    scope_names = [uuid.uuid4().hex + uuid.uuid4().hex for _ in range(scopes)]
    stored: list[tuple[str, list[float], str]] = []
    started = time.perf_counter()
    expires = timezone.now() + timezone.timedelta(days=1)
    batch = []
    for n in range(entries):
        vector = _unit([rng.gauss(0, 1) for _ in range(SEMANTIC_DIMENSIONS)])
        scope = scope_names[n % scopes]
        if n % (entries // 200 or 1) == 0:
            stored.append((scope, vector, f"a{n}"))
        batch.append(
            SemanticCacheEntry(
                organization_id=org.pk,  # type: ignore[attr-defined]
                scope=scope,
                question=f"q{n}",
                embedding=vector,
                answer=f"a{n}",
                expires_at=expires,
            )
        )
        if len(batch) == 2000:
            SemanticCacheEntry.objects.bulk_create(batch)
            batch = []
    if batch:
        SemanticCacheEntry.objects.bulk_create(batch)
    written = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(
            f"CREATE INDEX semantic_cache_hnsw ON {table} USING hnsw (embedding vector_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )
        cursor.execute(f"ANALYZE {table}")
    built = time.perf_counter() - started - written
    print(f"{entries:,} entries in {scopes} scope(s): written in {written:.0f} s, HNSW index built in {built:.0f} s")

    def exact(scope: str, vector: list[float]) -> str | None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            table = SemanticCacheEntry._meta.db_table
            literal = "[" + ",".join(f"{x:.7g}" for x in vector) + "]"
            cursor.execute(
                f"SELECT answer FROM {table} WHERE scope = %s AND expires_at > now() "  # noqa: S608
                "ORDER BY embedding <=> %s::vector LIMIT 1",
                [scope, literal],
            )
            row = cursor.fetchone()
        return None if row is None else str(row[0])

    cases = []
    for i in range(queries):
        if i % 2 == 0:
            scope, vector, answer = stored[i % len(stored)]
            near = _unit([x + rng.gauss(0, 0.02) for x in vector])
            cases.append((scope, near, answer))
        else:
            cases.append((scope_names[i % scopes], _unit([rng.gauss(0, 1) for _ in range(SEMANTIC_DIMENSIONS)]), None))
    hnsw, scan, found = [], [], 0
    for scope, vector, answer in cases:
        t0 = time.perf_counter()
        hit = semantic.lookup_vector(scope, vector, -1.0)
        hnsw.append((time.perf_counter() - t0) * 1000)
        if answer is not None and hit is not None and hit.answer == answer:
            found += 1
    for scope, vector, _ in cases[: max(20, queries // 10)]:
        t0 = time.perf_counter()
        exact(scope, vector)
        scan.append((time.perf_counter() - t0) * 1000)
    near = sum(1 for c in cases if c[2] is not None)
    print(
        f"  lookup (HNSW, iterative scan)  p50 {percentile(hnsw, 0.5):.2f} ms"
        f"  p95 {percentile(hnsw, 0.95):.2f} ms  ({len(hnsw)} queries)"
    )
    print(
        f"  exact scan (baseline)          p50 {percentile(scan, 0.5):.2f} ms"
        f"  p95 {percentile(scan, 0.95):.2f} ms  ({len(scan)} queries)"
    )
    print(f"  near queries that found their stored entry: {found}/{near}")
    SemanticCacheEntry.objects.filter(organization_id=org.pk).delete()  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    from apps.serving.models import SemanticCacheEntry

    SemanticCacheEntry.objects.all().delete()
    org = _org()
    paraphrases(str(org.pk))  # type: ignore[attr-defined]
    hit_latency(org, args.samples)
    lookups(org, args.entries, 1, args.queries)
    lookups(org, args.entries, 100, args.queries)


if __name__ == "__main__":
    main()
