"""Guardrails: precision/recall on the labelled corpus and the latency a guard adds.

    .venv/bin/python tests/bench/bench_guards.py [--no-model] [--short]

Prints precision and recall per PII entity and per attack class (tests/corpus/guardrails/), the
injection false-positive rate on the benign look-alikes, and p50/p95 of each check on a
2,000-character message with personal data in it. Then the model-based check, reported apart:
the injection classifier (all-MiniLM-L6-v2 fine-tuned with a LoRA adapter, ADR 0008; a text's
windows and segments scored, the worst one wins) OR-ed with
the heuristics on sets 2, 3 and 4 (heldout.py, heldout4.jsonl: spent, now TRAINED ON, so
in-sample), per attack class, and its latency on the same 2,000 characters. Its validation on
held-out sets (leave one set out) is finetune_classifier.py's, too slow for a bench.
--short: fewer latency runs (the lead's quick re-measure).
--heldout FILE: only that held-out set (a jsonl like heldout5.jsonl: text, label, source user /
document / tool, the attack class under "class" or "attack"): recall and false-positive rate of the
heuristics, the classifier and the product's decision (the model, or a heuristics hit it does not
veto), per attack class and per source.
--set5: the same for heldout5.jsonl (spent: since trained on). --misses: list what each got wrong.
--adapter-baseline DIR: also time the model check with the adapter in DIR (e.g. the previous wave's,
`git archive <commit> apps/guardrails/injection_adapter | tar -x -C /tmp/old`), in the same run.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch

from apps.guardrails.injection_model import InjectionModel
from flows.guards import GuardPolicy, guard_text, scan_injection, scan_pii
from flows.guards.classifier import classify_injection, injection_classifier, windows
from flows.guards.discussed import mask_discussed
from flows.guards.injection import Source
from flows.guards.policy import InjectionCheck, Models, injection_finding
from tests.corpus.guardrails import heldout
from tests.corpus.guardrails.evaluate import LocalMiniLM, injection_scores, load, pii_scores

SAMPLE = (
    "Hello, my name is Laura Keller and I moved to 42 Baker Street last month. My old address is still on the "
    "account, can you update it? You can reach me at laura.keller@example.com or +44 20 7946 0958. The refund "
    "for order 100234 should go to IBAN GB82 WEST 1234 5698 7654 32, not to my card 4111 1111 1111 1111. "
    "I also need an invoice for my employer; their tax number is on file. The delivery on Tuesday was late and "
    "the box was damaged, the blender inside does not turn on anymore. I tried another socket and the reset "
    "button, as your instructions say. Please tell me whether I should send it back or wait for a technician. "
)
TEXT = (SAMPLE * 6)[:2000]
RUNS = 60 if "--short" in sys.argv else 300


def timed(label: str, call: Callable[[], object], runs: int = RUNS) -> None:
    """Wall time, and the CPU time the process spent (what a shared, loaded machine distorts least)."""
    wall, cpu = [], []
    for _ in range(runs):
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


def _rates(flags: list[bool], labels: list[int]) -> tuple[float, float]:
    attacks = [f for f, y in zip(flags, labels, strict=True) if y]
    benign = [f for f, y in zip(flags, labels, strict=True) if not y]
    return sum(attacks) / len(attacks), sum(benign) / len(benign)


def _per_class(name: str, items: list[dict[str, object]], flags: list[bool]) -> None:
    classes: dict[str, list[bool]] = {}
    for item, flag in zip(items, flags, strict=True):
        if item["label"]:
            classes.setdefault(str(item.get("attack", "unlabelled")), []).append(flag)
    parts = [f"{c} {sum(f) / len(f):.2f} ({sum(f)}/{len(f)})" for c, f in sorted(classes.items())]
    print(f"      {name:<11} per class: " + "; ".join(parts))


def held_out_4(model: InjectionModel) -> None:
    """Held-out set 4 (heldout4.jsonl), written and committed before the wave-3 tuning."""
    items = load("heldout4.jsonl")
    labels = [int(item["label"]) for item in items]
    cut = injection_classifier().threshold_for
    rules = [scan_injection(item["text"], source=item["source"]).score >= 0.5 for item in items]
    scored = [classify_injection(item["text"], model.score) >= cut(item["source"]) for item in items]
    both = [r or m for r, m in zip(rules, scored, strict=True)]
    print(f"  set 4 (heldout4.jsonl; since trained on): {sum(labels)} attacks, {len(labels) - sum(labels)} benign")
    for name, flags in (("heuristics", rules), ("classifier", scored), ("either", both)):
        recall, fpr = _rates(flags, labels)
        print(f"    {name:<11} recall {recall:.3f}  false-positive rate {fpr:.3f}")
        _per_class(name, items, flags)
    if "--misses" in sys.argv:
        for item, flag, y in zip(items, both, labels, strict=True):
            if flag != bool(y):
                print(f"      {'missed' if y else 'false positive'}: {item['text'][:100]!r}")


class _Classify:
    """The product's Classify (apps.guardrails.moderation.LocalClassify) on a given model."""

    def __init__(self, model: InjectionModel) -> None:
        self.model = model

    def __call__(self, text: str) -> float:
        return classify_injection(text, self.model.score)

    def carrier(self, text: str) -> float:
        return classify_injection(text, self.model.score_carrier)


def held_out_file(model: InjectionModel, path: Path) -> None:
    """A held-out set (its attack class under "class" or "attack"), scored as the product checks it."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = [{**item, "attack": item.get("class") or item.get("attack") or "unlabelled"} for item in rows]
    labels = [int(item["label"]) for item in items]
    # As the product checks them: a tool result is scanned like a retrieved document (the rules for
    # indirect injection, the documents' classifier threshold).
    checked: list[Source] = ["user" if item["source"] == "user" else "document" for item in items]
    cut = injection_classifier().threshold_for
    rules = [
        scan_injection(mask_discussed(item["text"]) if s != "user" else item["text"], source=s).score >= 0.5
        for item, s in zip(items, checked, strict=True)
    ]
    # Wave 8: a tool result has its own threshold (the product's GuardedToolResults passes tool=True).
    kinds = [
        str(item["source"]) if item["source"] in ("user", "document", "tool") else s
        for item, s in zip(items, checked, strict=True)
    ]
    # Wave 9: documents and tool results by the model's carrier output (where the head has one).
    model_flags = [
        classify_injection(
            mask_discussed(item["text"]) if k != "user" else item["text"],
            model.score if k == "user" else model.score_carrier,
        )
        >= cut(k)
        for item, k in zip(items, kinds, strict=True)
    ]
    # What the product decides with the model on (flows.guards.policy.injection_finding): the model
    # at its source's threshold, or a heuristics hit the model does not veto.
    check = InjectionCheck(classifier=True)
    both = [
        injection_finding(check, item["text"], s, _Classify(model), tool=item["source"] == "tool") is not None
        for item, s in zip(items, checked, strict=True)
    ]
    counts = f"{sum(labels)} attacks, {len(labels) - sum(labels)} benign"
    trained = injection_classifier()
    veto = "veto " + ", ".join(f"{k} {trained.veto_for(k)}" for k in ("user", "document", "tool"))
    cuts = f"user {cut('user')}, document {cut('document')}, tool {cut('tool')}"
    print(f"  {path.name}: {counts}; thresholds {cuts}; {veto}")
    for name, flags in (("heuristics", rules), ("classifier", model_flags), ("product", both)):
        recall, fpr = _rates(flags, labels)
        print(f"    {name:<11} recall {recall:.3f}  false-positive rate {fpr:.3f}")
        _per_class(name, items, flags)
        by_source = []
        for source in ("user", "document", "tool"):
            pairs = [(f, y) for f, y, item in zip(flags, labels, items, strict=True) if item["source"] == source]
            hits = [f for f, y in pairs if y]
            false = [f for f, y in pairs if not y]
            by_source.append(
                f"{source} recall {sum(hits) / max(len(hits), 1):.2f} ({sum(hits)}/{len(hits)}), "
                f"FPR {sum(false) / max(len(false), 1):.2f} ({sum(false)}/{len(false)})"
            )
        print(f"      {name:<11} per source: " + "; ".join(by_source))
    if "--misses" in sys.argv:
        for item, flag, y in zip(items, both, labels, strict=True):
            if flag != bool(y):
                print(f"      {'missed' if y else 'false positive'}: {item['text'][:100]!r}")


def held_out(model: InjectionModel) -> None:
    cut = injection_classifier().threshold_for
    sets: list[tuple[str, list[tuple[Source, str]], list[tuple[Source, str]]]] = [
        ("set 2 (since trained on)", heldout.ATTACKS_2, heldout.BENIGN_2),
        ("set 3 (since trained on)", heldout.ATTACKS_3, heldout.BENIGN_3),
    ]
    for name, attacks, benign in sets:
        items = [(s, t, 1) for s, t in attacks] + [(s, t, 0) for s, t in benign]
        labels = [y for _, _, y in items]
        rules = [scan_injection(t, source=s).score >= 0.5 for s, t, _ in items]
        scored = [classify_injection(t, model.score) >= cut(s) for s, t, _ in items]
        both = [r or m for r, m in zip(rules, scored, strict=True)]
        print(f"  {name}: {len(attacks)} attacks, {len(benign)} benign")
        for label, flags in (("heuristics", rules), ("classifier", scored), ("either", both)):
            recall, fpr = _rates(flags, labels)
            print(f"    {label:<11} recall {recall:.2f}  false-positive rate {fpr:.2f}")


def model_checks() -> None:
    print("Injection classifier (model-based; all-MiniLM-L6-v2 + LoRA adapter on CPU, one thread)")
    model = InjectionModel()
    held_out(model)
    held_out_4(model)
    runs = RUNS // 3
    print(f"Latency of the model-based check on a {len(TEXT)}-character message ({runs} runs)")
    policy = GuardPolicy.model_validate({"injection": {"classifier": True}})
    models = Models(classify=lambda text: classify_injection(text, model.score))
    timed("classify_injection (windows + segments)", lambda: classify_injection(TEXT, model.score), runs)
    timed("classify_injection, a 200-character message", lambda: classify_injection(TEXT[:200], model.score), runs)
    timed("guard_text, default policy + classifier", lambda: guard_text(policy, TEXT, models=models), runs)
    # The baseline of wave 6 (ADR 0008), in the same run: the same model on the windows alone.
    timed("baseline: the windows alone (wave 5)", lambda: max(model.score(windows(TEXT))), runs)
    timed("baseline: the windows alone, 200 chars", lambda: max(model.score(windows(TEXT[:200]))), runs)
    # The baseline, in the same run: the previous model's cost (MiniLM sentence embeddings of the
    # same windows; its logistic regression on top is a dot product).
    embedder = LocalMiniLM()
    embedder.model.eval()
    timed("baseline: embeddings of the same windows", lambda: embedder.embed(windows(TEXT)), runs)
    timed("baseline: a 200-character message", lambda: embedder.embed(windows(TEXT[:200])), runs)
    if "--adapter-baseline" in sys.argv:  # another adapter's cost in the same run (wave 6 against 7)
        other = InjectionModel(Path(sys.argv[sys.argv.index("--adapter-baseline") + 1]))
        timed("baseline adapter: classify_injection", lambda: classify_injection(TEXT, other.score), runs)
        timed("baseline adapter: a 200-character message", lambda: classify_injection(TEXT[:200], other.score), runs)


if __name__ == "__main__":
    if "--heldout" in sys.argv or "--set5" in sys.argv:
        torch.set_num_threads(1)
        chosen = sys.argv[sys.argv.index("--heldout") + 1] if "--heldout" in sys.argv else None
        path = Path(chosen) if chosen else Path(__file__).parents[1] / "corpus/guardrails/heldout5.jsonl"
        print("Injection / jailbreak on a held-out set (heuristics at 0.5; classifier at its own thresholds)")
        held_out_file(InjectionModel(), path)
        sys.exit(0)
    torch.set_num_threads(1)
    main()
    if "--no-model" not in sys.argv:
        model_checks()
