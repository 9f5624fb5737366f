"""The prompt-injection classifier's pure part: the windows a text is scored in, and the decision
thresholds per source. The model itself (all-MiniLM-L6-v2 fine-tuned with a LoRA adapter, ADR 0008)
is given by the caller: apps.guardrails.injection_model scores windows;
tests/corpus/guardrails/finetune_classifier.py trains it and writes injection_classifier.json
(the thresholds) beside this file.

The decision threshold is per source: a retrieved chunk or a tool result ("document") may
legitimately hold imperative text (manuals, policies, notes to staff), so its threshold is never
lower than the one for user input, and higher where the held-out benign documents ask for it.

A text is scored in units and its score is the highest unit's (multiple-instance style), so one
injected sentence in a long document is not averaged away: its windows of about WINDOW_CHARS, and,
where it has more than one, its segments (sentences, lines, JSON string values; ADR 0008 wave 6):
an injection in a document is usually one or two sentences addressed to the assistant inside
ordinary text, and the model is trained on such segments (inserted into benign documents) beside
the benign documents' own segments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flows.guards.injection import binary_blanked, hidden_texts

WEIGHTS = Path(__file__).with_name("injection_classifier.json")
WINDOW_CHARS = 400  # about 100 word pieces: well inside MiniLM's 256
MAX_WINDOWS = 16  # a 6,000-character text; beyond it the heuristics alone judge the rest

Score = Callable[[list[str]], list[float]]  # each window's probability of being an injection
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f\n])\s*")  # CJK full stops too
# A segment boundary: a sentence end, a line break (an escaped one in JSON too), a JSON string's
# end (`", "`, `": "`), a table's cell.
_BREAK = re.compile(r'(?<=[.!?\u3002\uff01\uff1f;])\s+|\s*\n\s*|"\s*[,:]\s*[\[{]*\s*"|\|')
SEGMENT_MIN, SEGMENT_MAX = 30, 300  # shorter pieces join the next; longer ones are cut at a space
MAX_SEGMENTS = 48


@dataclass(frozen=True)
class Thresholds:
    threshold: float  # user input's; chosen at training on held-out sets (finetune_classifier.py)
    model: str
    document_threshold: float | None = None  # retrieved chunks and tool results; None: `threshold`
    veto: float = 0.0  # a heuristics hit stands only at or above this probability (0: heuristics OR model)
    document_veto: float | None = None  # a document's (>= its threshold: the model alone); None: `veto`
    document_rules: frozenset[str] = frozenset()  # rules precise on independent documents: stand alone
    tool_threshold: float | None = None  # wave 8: tool results apart; None: the document's
    tool_veto: float | None = None

    def threshold_for(self, source: str) -> float:
        """The cut-off for text from `source`: "user", "document" (a retrieved chunk) or "tool" (a
        tool result: the document's unless calibrated apart). Never below user input's."""
        if source == "user" or self.document_threshold is None:
            return self.threshold
        if source == "tool" and self.tool_threshold is not None:
            return max(self.threshold, self.tool_threshold)
        return max(self.threshold, self.document_threshold)

    def veto_for(self, source: str) -> float:
        """The probability under which a heuristics hit on text from `source` is dropped."""
        if source == "user" or self.document_veto is None:
            return self.veto
        if source == "tool" and self.tool_veto is not None:
            return self.tool_veto
        return self.document_veto


@cache
def injection_classifier() -> Thresholds:
    data = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    thresholds = data.get("thresholds", {})
    return Thresholds(
        threshold=float(thresholds.get("user", data["threshold"])),
        model=str(data["model"]),
        document_threshold=float(thresholds["document"]) if "document" in thresholds else None,
        veto=float(thresholds.get("veto", 0.0)),
        document_veto=float(thresholds["document_veto"]) if "document_veto" in thresholds else None,
        document_rules=frozenset(str(key) for key in data.get("document_rules", [])),
        tool_threshold=float(thresholds["tool"]) if "tool" in thresholds else None,
        tool_veto=float(thresholds["tool_veto"]) if "tool_veto" in thresholds else None,
    )


def windows(text: str) -> list[str]:
    """Sentences packed into windows of about WINDOW_CHARS (a longer sentence is cut); binary data in
    base64 or hex (an image, a certificate, a hash) as a placeholder (wave 12)."""
    text = binary_blanked(text).strip()
    if len(text) <= WINDOW_CHARS:
        return [text] if text else []
    out: list[str] = []
    current = ""
    for whole in _SENTENCE_END.split(text):
        sentence = whole
        while len(sentence) > WINDOW_CHARS:
            if current:
                out.append(current)
                current = ""
            out.append(sentence[:WINDOW_CHARS])
            sentence = sentence[WINDOW_CHARS:]
        if len(current) + len(sentence) + 1 > WINDOW_CHARS and current:
            out.append(current)
            current = ""
        current = f"{current} {sentence}".strip()
    if current:
        out.append(current)
    return out[:MAX_WINDOWS]


def segments(text: str) -> list[str]:
    """The text's sentences, lines and JSON string values, short ones joined to the next (binary data
    as in `windows`)."""
    out: list[str] = []
    current = ""
    for raw in _BREAK.split(binary_blanked(text).replace("\\n", "\n")):
        piece = raw.strip().strip('"{}[]').strip()
        if not piece:
            continue
        current = f"{current} {piece}".strip()
        if len(current) < SEGMENT_MIN:
            continue
        while len(current) > SEGMENT_MAX:
            cut = current.rfind(" ", 0, SEGMENT_MAX)
            cut = cut if cut > SEGMENT_MAX // 2 else SEGMENT_MAX
            out.append(current[:cut])
            current = current[cut:].strip()
        out.append(current)
        current = ""
    if current:
        if out and len(current) < SEGMENT_MIN:
            out[-1] = f"{out[-1]} {current}"
        else:
            out.append(current)
    return out[:MAX_SEGMENTS]


def units(text: str) -> list[str]:
    """What the model scores for `text`: its windows, its segments where it has several, and the
    windows of what it hides (wave 9: base64 and hex decoded, invisible characters dropped:
    `hidden_units`)."""
    whole = windows(text)
    parts = segments(text) if whole else []
    if len(parts) < 2:
        parts = []
    return list(dict.fromkeys(whole + parts + hidden_units(text)))  # a repeated sentence is scored once


def hidden_units(text: str) -> list[str]:
    """The windows of the text's decoded payloads (flows.guards.injection.hidden_texts), so the model
    reads an encoded instruction in any language, not only the rules in English."""
    return [w for hidden in hidden_texts(text) for w in windows(hidden)][:MAX_WINDOWS]


def classify_injection(text: str, score: Score) -> float:
    """The probability that `text` is a prompt injection or jailbreak (its worst unit)."""
    parts = units(text)
    if not parts:
        return 0.0
    return max(score(parts))
