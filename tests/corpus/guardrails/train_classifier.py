"""The previous injection classifier, kept as the baseline (ADR 0008): logistic regression over the
local MiniLM's frozen sentence embeddings. The product's model is now the fine-tuned one
(finetune_classifier.py, which reads its training items from here); this script no longer writes
flows/guards/injection_classifier.json, it only prints the figures.

    .venv/bin/python tests/corpus/guardrails/train_classifier.py [--report]

Training data (every labelled injection set in this folder except held-out set 5, which is never
read here): attacks.jsonl + benign.jsonl (the corpus), classifier_train.jsonl, lookalikes.jsonl
(benign look-alikes: security talk, questions about prompt injection, role-play that is not a
jailbreak, quoted instructions in manuals and tool results, multilingual; and fresh attacks),
lookalikes2.jsonl (a second batch of both, written after this design was fixed and measured once
before it was added), the spent held-out sets 1-3 (heldout.py) and set 4 (heldout4.jsonl).

Thresholds: the classifier is only asked after the heuristics (policy.injection_finding), so its
cut-off spends the false-positive budget of the two together: user input's is the lowest threshold
(>= 0.5) at which the benign items flagged by the heuristics or by the classifier's held-out-fold
probability stay <= TARGET_FPR (the issue's budget is 0.05). A document's (retrieved chunk, tool
result): the classifier may add no larger a share of false positives to benign documents than it
adds overall, and it is never below user input's. The probabilities are out-of-fold (5 folds),
never those of a model that saw the item.

Deterministic (fixed folds, no sampling).
--report: the honest figures for docs/BENCHMARKS.md: nested cross-validation (the thresholds
picked inside each outer training part, then applied to the outer fold) and leave-one-set-out
(each set written at a different time scored by a model trained on all the others).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from sklearn.linear_model import LogisticRegression  # noqa: E402 - after the path

from flows.guards import scan_injection  # noqa: E402
from tests.corpus.guardrails import heldout  # noqa: E402
from tests.corpus.guardrails.evaluate import LocalMiniLM, load  # noqa: E402

C = 2.0  # inverse L2 strength: leave-one-set-out recall/FPR barely move between 0.25 and 8
FOLDS = 5
TARGET_FPR = 0.03  # of heuristics OR classifier, on benign items; the issue allows 0.05
RULE_THRESHOLD = 0.5  # the heuristics' default (InjectionCheck.threshold)


@dataclass(frozen=True)
class Item:
    text: str
    label: int
    source: str  # "user" or "document"
    set: str  # which file / list it came from (for leave-one-set-out)
    attack: str  # the attack class, or the benign kind ("" when the set has none)


def training_items() -> list[Item]:
    items: list[Item] = []
    for name, file in (("corpus", "attacks.jsonl"), ("corpus", "benign.jsonl"), ("train", "classifier_train.jsonl")):
        items += [_item(row, name) for row in load(file)]
    items += [_item(row, "lookalikes") for row in load("lookalikes.jsonl")]
    items += [_item(row, "lookalikes 2") for row in load("lookalikes2.jsonl")]
    for name, attacks, benign in (
        ("set 1", heldout.ATTACKS, heldout.BENIGN),
        ("set 2", heldout.ATTACKS_2, heldout.BENIGN_2),
        ("set 3", heldout.ATTACKS_3, heldout.BENIGN_3),
    ):
        items += [Item(text, 1, source, name, "") for source, text in attacks]
        items += [Item(text, 0, source, name, "") for source, text in benign]
    items += [_item(row, "set 4") for row in load("heldout4.jsonl")]
    return items


def _item(row: dict[str, object], name: str) -> Item:
    kind = row.get("attack") or row.get("kind") or ""
    return Item(str(row["text"]), int(str(row["label"])), str(row["source"]), name, str(kind))


def fit(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    model = LogisticRegression(C=C, max_iter=3000, class_weight="balanced")
    return model.fit(x, y)


def out_of_fold(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each item's probability from a model fitted without its fold (fold = index mod FOLDS)."""
    held = np.zeros(len(y))
    fold = np.arange(len(y)) % FOLDS
    for k in range(FOLDS):
        test = fold == k
        held[test] = fit(x[~test], y[~test]).predict_proba(x[test])[:, 1]
    return held


def _cut(p: np.ndarray, benign: np.ndarray, budget: int) -> float:
    """The lowest threshold >= 0.5 that flags at most `budget` of the `benign` items."""
    ranked = np.sort(p[benign])[::-1]
    if budget < 0:
        return 1.0
    threshold = float(ranked[budget]) + 1e-6 if budget < len(ranked) else 0.5
    return round(min(max(threshold, 0.5), 1.0), 4)


def thresholds(p: np.ndarray, y: np.ndarray, rules: np.ndarray, sources: np.ndarray) -> dict[str, float]:
    """User input's: heuristics OR classifier flag <= TARGET_FPR of all benign items. Documents':
    the classifier adds no larger a share of false positives to the benign documents than it adds
    overall (the heuristics' own on documents not counted), and never a lower threshold."""
    open_ = (y == 0) & ~rules  # benign items only the classifier can still flag
    budget = int(TARGET_FPR * (y == 0).sum()) - int(((y == 0) & rules).sum())
    everyone = _cut(p, open_, budget)
    share = max(budget, 0) / max(int((y == 0).sum()), 1)
    documents = sources == "document"
    document = _cut(p, open_ & documents, int(share * ((y == 0) & documents).sum()))
    return {"user": everyone, "document": max(everyone, document)}


def flags(p: np.ndarray, rules: np.ndarray, sources: np.ndarray, cut: dict[str, float]) -> np.ndarray:
    """What the product decides: the heuristics, or the classifier at its source's threshold."""
    return rules | (p >= np.where(sources == "document", cut["document"], cut["user"]))


def features(items: list[Item]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Embeddings, labels, the heuristics' verdicts and the sources."""
    vectors = np.asarray(LocalMiniLM().embed([item.text for item in items]), dtype=np.float32)
    y = np.asarray([item.label for item in items])
    rules = np.asarray([scan_injection(i.text, source=i.source).score >= RULE_THRESHOLD for i in items])  # type: ignore[arg-type]
    return vectors, y, rules, np.asarray([item.source for item in items])


def nested(x: np.ndarray, y: np.ndarray, rules: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Each item's verdict from a model AND thresholds chosen without its outer fold."""
    verdict = np.zeros(len(y), dtype=bool)
    fold = np.arange(len(y)) % FOLDS
    for k in range(FOLDS):
        test, train = fold == k, fold != k
        cut = thresholds(out_of_fold(x[train], y[train]), y[train], rules[train], sources[train])
        p = fit(x[train], y[train]).predict_proba(x[test])[:, 1]
        verdict[test] = flags(p, rules[test], sources[test], cut)
    return verdict


def leave_one_set_out(
    x: np.ndarray, y: np.ndarray, rules: np.ndarray, sources: np.ndarray, sets: np.ndarray, name: str
) -> np.ndarray:
    """The verdicts on set `name` of a model and thresholds trained on every other set."""
    train = sets != name
    cut = thresholds(out_of_fold(x[train], y[train]), y[train], rules[train], sources[train])
    p = fit(x[train], y[train]).predict_proba(x[~train])[:, 1]
    return flags(p, rules[~train], sources[~train], cut)


def rates(verdict: np.ndarray, y: np.ndarray) -> str:
    attacks, benign = verdict[y == 1], verdict[y == 0]
    return (
        f"recall {attacks.mean():.3f} ({attacks.sum()}/{len(attacks)})  "
        f"FPR {benign.mean():.3f} ({benign.sum()}/{len(benign)})"
    )


def report(items: list[Item], x: np.ndarray, y: np.ndarray, rules: np.ndarray, sources: np.ndarray) -> None:
    sets = np.asarray([item.set for item in items])
    print(f"Heuristics alone (tuned on the corpus and sets 1-3): {rates(rules, y)}")
    verdict = nested(x, y, rules, sources)
    print(f"Nested {FOLDS}-fold cross-validation, heuristics OR classifier: {rates(verdict, y)}")
    for source in ("user", "document"):
        mask = sources == source
        print(f"  {source:<9} {rates(verdict[mask], y[mask])}")
    kinds = sorted({item.attack for item in items if item.set.startswith("lookalikes") and not item.label})
    for kind in kinds:
        mask = np.asarray([i.set.startswith("lookalikes") and i.attack == kind and not i.label for i in items])
        print(f"  benign look-alikes, {kind:<12} FPR {verdict[mask].mean():.3f} ({verdict[mask].sum()}/{mask.sum()})")
    print("Leave one set out (model and thresholds trained on all the other sets):")
    for name in dict.fromkeys(sets):
        mask = sets == name
        held = leave_one_set_out(x, y, rules, sources, sets, str(name))
        print(f"  {name:<12} either {rates(held, y[mask])};  heuristics {rates(rules[mask], y[mask])}")


def main() -> None:
    items = training_items()
    x, y, rules, sources = features(items)
    cut = thresholds(out_of_fold(x, y), y, rules, sources)
    print(f"{len(items)} items; thresholds {cut} (out-of-fold, heuristics OR classifier FPR <= {TARGET_FPR})")
    if "--report" in sys.argv:
        report(items, x, y, rules, sources)


if __name__ == "__main__":
    main()
