"""Guardrails: precision/recall on the labelled corpus and the latency a guard adds.

    .venv/bin/python tests/bench/bench_guards.py

Prints precision and recall per PII entity and per attack class (tests/corpus/guardrails/), the
injection false-positive rate on the benign look-alikes, and p50/p95 of each check on a
2,000-character message with personal data in it (pattern checks only: no model is involved).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


from flows.guards import GuardPolicy, guard_text, scan_injection, scan_pii
from tests.corpus.guardrails.evaluate import injection_scores, pii_scores

SAMPLE = (
    "Hello, my name is Laura Keller and I moved to 42 Baker Street last month. My old address is still on the "
    "account, can you update it? You can reach me at laura.keller@example.com or +44 20 7946 0958. The refund "
    "for order 100234 should go to IBAN GB82 WEST 1234 5698 7654 32, not to my card 4111 1111 1111 1111. "
    "I also need an invoice for my employer; their tax number is on file. The delivery on Tuesday was late and "
    "the box was damaged, the blender inside does not turn on anymore. I tried another socket and the reset "
    "button, as your instructions say. Please tell me whether I should send it back or wait for a technician. "
)
TEXT = (SAMPLE * 6)[:2000]
RUNS = 300


def timed(label: str, call: Callable[[], object]) -> None:
    """Wall time, and the CPU time the process spent (what a shared, loaded machine distorts least)."""
    wall, cpu = [], []
    for _ in range(RUNS):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        cpu.append((time.process_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    p50, p95 = statistics.median(wall), statistics.quantiles(wall, n=20)[-1]
    print(f"  {label:<42} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   CPU p50 {statistics.median(cpu):6.2f} ms")


def main() -> None:
    print("PII (tests/corpus/guardrails/pii.jsonl, threshold 0.5)")
    print(f"  {'entity':<16} {'precision':>9} {'recall':>7} {'gold':>5}")
    for entity, score in sorted(pii_scores().items()):
        print(f"  {entity:<16} {score.precision:9.3f} {score.recall:7.3f} {score.tp + score.fn:5d}")
    injection = injection_scores()
    print("Injection / jailbreak (attacks.jsonl, benign.jsonl, threshold 0.5)")
    for attack, score in sorted(injection.per_class.items()):
        print(f"  {attack:<16} recall {score.recall:.3f}  ({score.tp}/{score.tp + score.fn})")
    print(
        f"  all attacks      recall {injection.recall:.3f}; "
        f"false-positive rate on benign {injection.false_positive_rate:.3f}"
    )
    print(f"Latency on a {len(TEXT)}-character message ({RUNS} runs)")
    policy = GuardPolicy()
    timed("scan_pii (patterns + name heuristic)", lambda: scan_pii(TEXT))
    timed("scan_injection (user input)", lambda: scan_injection(TEXT))
    timed("scan_injection (document rules)", lambda: scan_injection(TEXT, source="document"))
    timed("guard_text, default policy (all of it)", lambda: guard_text(policy, TEXT))


if __name__ == "__main__":
    main()
