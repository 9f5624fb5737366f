"""A guard policy (which checks, their thresholds and actions) and its evaluation on one text.

The same model configures the guard nodes and is stored as an organization's or a widget's policy
(apps/guardrails); `guard_text` is the one evaluation both use. Actions, strongest first: block
(stop, answer `block_message`), route (send the text down the node's `flagged` port), redact
(placeholders), flag (record only), allow. A dry run records what would have happened and lets
the text through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import regex
from pydantic import BaseModel, ConfigDict, Field, field_validator

from flows.guards.classifier import injection_classifier
from flows.guards.content import CATEGORIES, scan_content
from flows.guards.discussed import Masked, masked
from flows.guards.findings import Finding
from flows.guards.injection import Source, precise_hit, scan_injection
from flows.guards.output import scan_canary, scan_links, scan_prompt_echo, scan_schema
from flows.guards.pii import ALL_ENTITIES, scan_pii
from flows.guards.redact import Redacted, redact

Action = Literal["allow", "flag", "redact", "block", "route"]
STRENGTH: dict[str, int] = {"allow": 0, "flag": 1, "redact": 2, "route": 3, "block": 4}
DEFAULT_BLOCK_MESSAGE = "Sorry, I can't help with that request."


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True


class PiiCheck(_Check):
    entities: list[str] = Field(default_factory=lambda: list(ALL_ENTITIES))
    threshold: float = Field(default=0.5, ge=0, le=1)
    action: Action = "redact"

    @field_validator("entities")
    @classmethod
    def _known(cls, entities: list[str]) -> list[str]:
        unknown = sorted(set(entities) - set(ALL_ENTITIES))
        if unknown:
            raise ValueError(f"Unknown entities: {', '.join(unknown)}. Known: {', '.join(ALL_ENTITIES)}.")
        return entities


class InjectionCheck(_Check):
    threshold: float = Field(default=0.5, ge=0, le=1)
    classifier: bool = Field(
        default=False,
        description="Also ask the injection model (MiniLM fine-tuned; about 50 ms per 400 characters on CPU)",
    )
    classifier_threshold: float | None = Field(
        default=None, ge=0, le=1, description="The classifier's cut-off; empty: the one it was trained with"
    )
    action: Action = "block"


MODERATION_CATEGORIES = ("harassment", "hate", "self_harm", "sexual", "violence", "illicit")


class ModerationCheck(_Check):
    """A model judges the text: an OpenAI-compatible `/moderations` endpoint, or a chat model
    asked to score each category (0..1). A category at or above its threshold is a hit."""

    enabled: bool = False
    model: str = Field(default="", max_length=100, description="The model alias to ask")
    mode: Literal["moderations", "classifier"] = "classifier"
    thresholds: dict[str, float] = Field(default_factory=lambda: dict.fromkeys(MODERATION_CATEGORIES, 0.5))
    on_error: Literal["allow", "block"] = Field(default="allow", description="When the model cannot answer")
    action: Action = "block"

    @field_validator("thresholds")
    @classmethod
    def _known(cls, thresholds: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(thresholds) - set(MODERATION_CATEGORIES))
        if unknown:
            known = ", ".join(MODERATION_CATEGORIES)
            raise ValueError(f"Unknown categories: {', '.join(unknown)}. Known: {known}.")
        if any(not 0 <= value <= 1 for value in thresholds.values()):
            raise ValueError("Thresholds are between 0 and 1.")
        return thresholds


class ContentCheck(_Check):
    enabled: bool = False
    categories: list[str] = Field(default_factory=lambda: [c for c in CATEGORIES if c != "profanity"])
    words: list[str] = Field(default_factory=list, max_length=500)
    patterns: list[str] = Field(default_factory=list, max_length=50)
    action: Action = "block"

    @field_validator("categories")
    @classmethod
    def _known(cls, categories: list[str]) -> list[str]:
        unknown = sorted(set(categories) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"Unknown categories: {', '.join(unknown)}. Known: {', '.join(CATEGORIES)}.")
        return categories

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                regex.compile(pattern)
            except regex.error as exc:
                raise ValueError(f"Invalid regular expression {pattern!r}: {exc}") from None
        return patterns


class OutputCheck(_Check):
    canary: str = Field(default="", max_length=200, description="A marker in the system prompt; never in an answer")
    system_prompt: str = Field(default="", max_length=20_000, description="Answers repeating 8+ words of it leak it")
    allowed_links: list[str] | None = Field(default=None, description="Hosts links may point to (*.example.com)")
    json_schema: dict[str, Any] | None = None
    action: Action = "block"


class GuardPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pii: PiiCheck = Field(default_factory=PiiCheck)
    injection: InjectionCheck = Field(default_factory=InjectionCheck)
    content: ContentCheck = Field(default_factory=ContentCheck)
    moderation: ModerationCheck = Field(default_factory=ModerationCheck)
    output: OutputCheck = Field(default_factory=lambda: OutputCheck(enabled=False))
    block_message: str = Field(default=DEFAULT_BLOCK_MESSAGE, max_length=1000)
    dry_run: bool = Field(default=False, description="Only record what would happen; change nothing")
    redact_before_storing: bool = Field(default=True, description="Store only the redacted text")
    reversible: bool = Field(default=False, description="Show the visitor their own values in the reply")


@dataclass(frozen=True)
class Hit:
    check: str
    label: str
    action: str  # what was done (a dry run: "flag")
    score: float
    start: int
    end: int
    intended: str = ""  # a dry run: what would have been done
    source: str = "user"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "check": self.check,
            "label": self.label,
            "action": self.action,
            "score": self.score,
            "start": self.start,
            "end": self.end,
            "source": self.source,
        }
        if self.intended:
            data["intended"] = self.intended
        return data


@dataclass
class Verdict:
    action: str  # the strongest action taken
    text: str  # what continues: the input, redacted where the policy says (unchanged in a dry run)
    hits: list[Hit] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)  # redaction placeholders (memory only)
    message: str = ""  # the block message, when blocked

    @property
    def blocked(self) -> bool:
        return self.action == "block"


Stage = Literal["input", "output"]
# The model-based checks, given by the caller (apps.guardrails): the classifier's probability that a
# text is an injection, and a moderation model's score per category (ModerationFailed: no answer).
# A Classify may also offer `carrier(text)`: the model's own output for retrieved documents and tool
# results (wave 9); without it, `classify` serves every source.
Classify = Callable[[str], float]
Moderate = Callable[[str, "ModerationCheck"], dict[str, float]]


class ModerationFailed(Exception):
    """The moderation model gave no usable answer (unreachable, timed out, unparseable)."""


@dataclass(frozen=True)
class Models:
    classify: Classify | None = None
    moderate: Moderate | None = None


def injection_finding(
    check: InjectionCheck, text: str, source: Source, classify: Classify | None, *, tool: bool = False
) -> Finding | None:
    """The heuristics alone, or, when the check asks for the model too, the two together (ADR 0008):
    the model flags at its source's threshold, and a heuristics hit stands only where the model gives
    the text at least the trained `veto` probability of its source (the heuristics alone spend the
    false-positive budget on independent text: quoted attacks, "ignore my last email"; on documents
    and tool results the trained veto is the threshold itself: the model alone decides there, except
    for the document rules that never fired on an independent benign document, which stand alone).
    `tool`: a tool result (a document with its own trained threshold and veto, wave 8)."""
    kind = "tool" if tool and source != "user" else source
    # A document or tool result about attacks is judged without the attacks it quotes as examples
    # (ADR 0008 wave 8). Never what a person typed: the one typing may be the attacker, and a topic
    # word plus quotes around the attack would otherwise hide it from the rules and the model.
    view = masked(text) if source != "user" else Masked(text, text)
    result = scan_injection(view.text, source=source)
    rule_hit = None
    if result.score >= check.threshold and result.findings:
        start = view.position(min(f.start for f in result.findings))
        end = max(view.position(max(f.end for f in result.findings)), start)
        label = max(result.findings, key=lambda f: f.score).label
        rule_hit = Finding("injection", label, start, end, result.score)
    if not check.classifier or classify is None:
        return rule_hit
    trained = injection_classifier()
    threshold = check.classifier_threshold
    if threshold is None:  # the trained one for this source (a document's is never lower)
        threshold = trained.threshold_for(kind)
    if source != "user" and rule_hit is not None:
        precise = precise_hit(view.text, trained.document_rules)
        if precise is not None:  # never fired on an independent benign document: no model needed
            start = view.position(precise.start)
            return Finding(precise.check, precise.label, start, max(view.position(precise.end), start), precise.score)
    # Documents and tool results by the model's carrier output where the caller offers one (wave 9).
    judge = getattr(classify, "carrier", None) if source != "user" else None
    probability = (judge or classify)(view.text)
    if rule_hit is not None and probability >= min(trained.veto_for(kind), threshold):
        return rule_hit
    if probability >= threshold:
        return Finding("injection", "classifier", 0, len(text), round(probability, 4))
    return None


def _moderation(check: ModerationCheck, text: str, moderate: Moderate | None) -> list[tuple[Finding, str]]:
    if moderate is None or not text.strip():
        return []
    try:
        scores = moderate(text, check)
    except ModerationFailed:
        action = "block" if check.on_error == "block" else "flag"
        return [(Finding("moderation", "unavailable", 0, len(text), 1.0), action)]
    return [
        (Finding("moderation", category, 0, len(text), round(score, 4)), check.action)
        for category, score in sorted(scores.items())
        if category in check.thresholds and score >= check.thresholds[category]
    ]


def _findings(
    policy: GuardPolicy, text: str, stage: Stage, source: Source, models: Models
) -> list[tuple[Finding, str]]:
    found: list[tuple[Finding, str]] = []
    if policy.pii.enabled:
        pii = scan_pii(text, entities=policy.pii.entities, threshold=policy.pii.threshold)
        found.extend((f, policy.pii.action) for f in pii)
    if policy.injection.enabled and stage == "input":
        injection = injection_finding(policy.injection, text, source, models.classify)
        if injection is not None:
            found.append((injection, policy.injection.action))
    if policy.moderation.enabled:
        found.extend(_moderation(policy.moderation, text, models.moderate))
    if policy.content.enabled:
        content = policy.content
        hits = scan_content(text, categories=content.categories, words=content.words, patterns=content.patterns)
        found.extend((f, content.action) for f in hits)
    if policy.output.enabled and stage == "output":
        out = policy.output
        checks = scan_canary(text, out.canary) + scan_prompt_echo(text, out.system_prompt)
        if out.allowed_links is not None:
            checks += scan_links(text, out.allowed_links)
        if out.json_schema is not None:
            checks += scan_schema(text, out.json_schema)
        found.extend((f, out.action) for f in checks)
    return found


def guard_text(
    policy: GuardPolicy,
    text: str,
    *,
    stage: Literal["input", "output"] = "input",
    source: Source = "user",
    mapping: dict[str, str] | None = None,
    models: Models | None = None,
) -> Verdict:
    """Run the policy's checks on one text and apply the strongest action. `models`: the
    model-based checks' callables (without them, the injection classifier and moderation skip)."""
    found = _findings(policy, text, stage, source, models or Models())
    if not found:
        return Verdict("allow", text, mapping=dict(mapping or {}))
    strongest = max((action for _, action in found), key=STRENGTH.__getitem__)
    if policy.dry_run:
        hits = [Hit(f.check, f.label, "flag", f.score, f.start, f.end, intended=a, source=source) for f, a in found]
        return Verdict("flag", text, hits, dict(mapping or {}))
    hits = [Hit(f.check, f.label, a, f.score, f.start, f.end, source=source) for f, a in found]
    if strongest == "block":
        return Verdict("block", text, hits, dict(mapping or {}), message=policy.block_message)
    redacted = Redacted(text, dict(mapping or {}))
    to_redact = [f for f, a in found if a == "redact"]
    if to_redact:
        redacted = redact(text, to_redact, mapping=mapping)
    return Verdict(strongest, redacted.text, hits, redacted.mapping)
