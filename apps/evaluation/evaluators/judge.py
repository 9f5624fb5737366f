"""LLM-as-judge through the serving gateway (any model alias): a rubric graded on a scale, with the
judge's reasoning kept; a pairwise judge asked twice with the answers' positions swapped (order
bias cancels); faithfulness of the answer to the retrieved passages."""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from apps.evaluation.evaluators.spec import EvaluatorSpec, SampleInput, Score

JUDGE_MAX_TOKENS = 400
_SCORE = re.compile(r'"?score"?\s*[:=]\s*(-?\d+(?:\.\d+)?)', re.IGNORECASE)
_WINNER = re.compile(r'"?winner"?\s*[:=]\s*"?(A|B|tie)"?', re.IGNORECASE)


class JudgeModels(Protocol):
    """What a judge needs of the gateway (apps.serving.gateway.GatewayModels)."""

    async def probe(self, alias: str, prompt: str, *, max_tokens: int = 64) -> Any: ...

    def cost(self, alias: str, input_tokens: int, output_tokens: int) -> Any: ...


def _json_object(text: str) -> dict[str, Any] | None:
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def rubric_prompt(spec: EvaluatorSpec, sample: SampleInput) -> str:
    lines = [
        f"You are grading an assistant's answer. Grade it on a scale from 1 (worst) to {spec.scale} (best).",
    ]
    if spec.rubric:
        lines.append(f"Rubric: {spec.rubric}")
    if spec.criteria:
        lines.append("Criteria:\n" + "\n".join(f"- {criterion}" for criterion in spec.criteria))
    for example in spec.examples:
        lines.append(f"Example answer: {example.output}\nIts grade: {example.score}. {example.why}".rstrip())
    lines.append(f"Question: {sample.message}")
    if sample.expected_output:
        lines.append(f"Reference answer: {sample.expected_output}")
    lines.append(f"Answer to grade: {sample.output}")
    lines.append('Reply with JSON only: {"reasoning": "<one or two sentences>", "score": <integer>}')
    return "\n\n".join(lines)


def faithfulness_prompt(spec: EvaluatorSpec, sample: SampleInput) -> str:
    passages = "\n".join(
        f"[{index}] {citation.get('snippet') or citation.get('text') or ''}"
        for index, citation in enumerate(sample.citations, start=1)
    )
    return "\n\n".join(
        [
            "Grade how faithful the answer is to the retrieved passages: every claim supported is "
            f"{spec.scale}, claims not found in the passages lower the grade, 1 is unsupported.",
            f"Passages:\n{passages or '(none)'}",
            f"Question: {sample.message}",
            f"Answer: {sample.output}",
            'Reply with JSON only: {"reasoning": "<one or two sentences>", "score": <integer>}',
        ]
    )


def pairwise_prompt(spec: EvaluatorSpec, message: str, first: str, second: str) -> str:
    return "\n\n".join(
        [
            "Two assistants answered the same question. Which answer is better?"
            + (f" Judge by: {spec.rubric}" if spec.rubric else ""),
            f"Question: {message}",
            f"Answer A: {first}",
            f"Answer B: {second}",
            'Reply with JSON only: {"reasoning": "<one or two sentences>", "winner": "A" | "B" | "tie"}',
        ]
    )


def parse_grade(text: str, scale: int) -> tuple[float | None, str]:
    """The judge's reply -> (score in [0, 1], reasoning); None when no grade can be read."""
    data = _json_object(text)
    raw: Any = data.get("score") if data else None
    reasoning = str(data.get("reasoning", "")) if data else text.strip()
    if raw is None and (match := _SCORE.search(text)):
        raw = match.group(1)
    try:
        grade = float(raw)
    except (TypeError, ValueError):
        return None, f"The judge gave no readable grade: {text.strip()[:300]}"
    grade = min(max(grade, 1.0), float(scale))
    return (grade - 1) / (scale - 1), reasoning


def parse_winner(text: str) -> tuple[str | None, str]:
    data = _json_object(text)
    raw = str(data.get("winner", "")) if data else ""
    reasoning = str(data.get("reasoning", "")) if data else text.strip()
    if not raw and (match := _WINNER.search(text)):
        raw = match.group(1)
    raw = raw.strip().upper()
    return ({"A": "A", "B": "B", "TIE": "tie"}.get(raw), reasoning)


async def _ask(models: JudgeModels, alias: str, prompt: str) -> tuple[str, float]:
    result = await models.probe(alias, prompt, max_tokens=JUDGE_MAX_TOKENS)
    spent = float(models.cost(alias, result.input_tokens, result.output_tokens))
    return str(result.text), spent


async def judge(spec: EvaluatorSpec, sample: SampleInput, models: JudgeModels) -> Score:
    prompt = faithfulness_prompt(spec, sample) if spec.kind == "faithfulness" else rubric_prompt(spec, sample)
    text, spent = await _ask(models, spec.model or "", prompt)
    score, reasoning = parse_grade(text, spec.scale)
    return Score(score, reasoning, cost=spent)


async def pairwise(spec: EvaluatorSpec, sample: SampleInput, models: JudgeModels) -> Score:
    """The candidate's win rate against the baseline's answer: asked as A, then as B (1 win, 0.5
    tie, 0 loss, averaged over both orders)."""
    if sample.baseline_output is None:
        return Score(None, "No baseline answer to compare with.")
    alias = spec.model or ""
    first, cost_1 = await _ask(
        models, alias, pairwise_prompt(spec, sample.message, sample.output, sample.baseline_output)
    )
    second, cost_2 = await _ask(
        models, alias, pairwise_prompt(spec, sample.message, sample.baseline_output, sample.output)
    )
    (winner_1, why_1), (winner_2, why_2) = parse_winner(first), parse_winner(second)
    points = {"A": 1.0, "B": 0.0, "tie": 0.5}
    if winner_1 is None or winner_2 is None:
        return Score(None, "The judge named no winner.", cost=cost_1 + cost_2)
    score = (points[winner_1] + (1 - points[winner_2])) / 2
    reasoning = f"Candidate as A: {winner_1} ({why_1}) | candidate as B: {winner_2} ({why_2})"
    return Score(score, reasoning, cost=cost_1 + cost_2)
