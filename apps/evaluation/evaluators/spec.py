"""What an evaluator is (its stored config) and what it is given (one sample) and gives (a score)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import regex
from pydantic import BaseModel, Field, ValidationError, model_validator

from apps.config.errors import InvalidInput

Kind = Literal[
    "exact",
    "contains",
    "regex",
    "json_valid",
    "json_schema",
    "length",
    "latency",
    "cost",
    "rouge_l",
    "bleu",
    "embedding",
    "bertscore",
    "judge",
    "pairwise",
    "faithfulness",
    "hit_at_k",
    "mrr",
    "context_precision",
    "human",
]
JUDGE_KINDS = frozenset({"judge", "pairwise", "faithfulness"})
MAX_EVALUATORS = 20


class JudgeExample(BaseModel, extra="forbid"):
    output: str = Field(max_length=4000)
    score: int = Field(ge=0, le=100)
    why: str = Field(default="", max_length=1000)


class EvaluatorSpec(BaseModel, extra="forbid"):
    """One evaluator of an evaluation. Every score is in [0, 1] (BLEU is divided by 100)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    kind: Kind
    value: str | None = Field(default=None, max_length=4000)  # exact/contains: instead of the expected output
    pattern: str | None = Field(default=None, max_length=1000)
    json_schema: dict[str, Any] | None = None
    case_sensitive: bool = False
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)
    max_latency_ms: float | None = Field(default=None, gt=0)
    max_cost: float | None = Field(default=None, ge=0)
    k: int = Field(default=5, ge=1, le=100)
    model: str | None = Field(default=None, max_length=64)  # judge alias; embedding model ("local")
    criteria: list[str] = Field(default_factory=list, max_length=20)
    rubric: str = Field(default="", max_length=4000)
    scale: int = Field(default=5, ge=2, le=10)
    examples: list[JudgeExample] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _per_kind(self) -> EvaluatorSpec:
        if self.kind == "regex":
            if not self.pattern:
                raise ValueError("a regex evaluator needs a 'pattern'")
            try:
                regex.compile(self.pattern)
            except regex.error as exc:
                raise ValueError(f"the pattern is not a valid regular expression: {exc}") from None
        if self.kind == "json_schema":
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            if self.json_schema is None:
                raise ValueError("a json_schema evaluator needs a 'json_schema'")
            try:
                Draft202012Validator.check_schema(self.json_schema)
            except SchemaError as exc:
                raise ValueError(f"the JSON Schema is invalid: {exc.message}") from None
        if self.kind == "length" and self.min is None and self.max is None:
            raise ValueError("a length evaluator needs 'min' or 'max'")
        if self.kind == "latency" and self.max_latency_ms is None:
            raise ValueError("a latency evaluator needs 'max_latency_ms'")
        if self.kind == "cost" and self.max_cost is None:
            raise ValueError("a cost evaluator needs 'max_cost'")
        if self.kind in JUDGE_KINDS and not self.model:
            raise ValueError(f"a {self.kind} evaluator needs a judge 'model' (a model alias)")
        return self


def parse_evaluators(raw: Any) -> list[EvaluatorSpec]:
    """Stored/requested evaluator configs -> specs; InvalidInput naming the bad one."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("Choose at least one evaluator.", code="invalid_evaluators")
    if len(raw) > MAX_EVALUATORS:
        raise InvalidInput(f"At most {MAX_EVALUATORS} evaluators.", code="invalid_evaluators")
    specs: list[EvaluatorSpec] = []
    for index, entry in enumerate(raw):
        try:
            specs.append(EvaluatorSpec.model_validate(entry))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            label = entry.get("name") if isinstance(entry, dict) else None
            raise InvalidInput(
                f"Evaluator {label or index + 1}: {first['msg']}{f' ({where})' if where else ''}.",
                code="invalid_evaluators",
            ) from None
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise InvalidInput("Evaluator names must be unique.", code="invalid_evaluators")
    return specs


@dataclass
class SampleInput:
    """What an evaluator sees of one sample."""

    message: str
    output: str
    expected_output: str = ""
    expected_sources: list[str] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: float | None = None
    cost: float = 0.0
    baseline_output: str | None = None  # pairwise: the baseline's answer to the same item and sample


@dataclass
class Score:
    score: float | None  # None: not scored (a human grade pending, a model not available)
    reasoning: str = ""
    pending: bool = False
    cost: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"score": self.score}
        if self.reasoning:
            data["reasoning"] = self.reasoning[:4000]
        if self.pending:
            data["pending"] = True
        if self.cost:
            data["cost"] = round(self.cost, 6)  # a judge's model calls (also in the model-call ledger)
        return data
