"""Evaluators: each scores one sample in [0, 1] (or None: not scored, with the reason)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from apps.evaluation.evaluators.judge import JudgeModels, judge, pairwise
from apps.evaluation.evaluators.metrics import SYNC_SCORERS, embedding_scorer, preload
from apps.evaluation.evaluators.spec import EvaluatorSpec, SampleInput, Score, parse_evaluators

__all__ = ["EvaluatorSpec", "SampleInput", "Score", "parse_evaluators", "preload", "score_sample"]

Embed = Callable[[list[str]], list[list[float]]]


async def _one(spec: EvaluatorSpec, sample: SampleInput, models: JudgeModels | None, embed: Embed | None) -> Score:
    try:
        if spec.kind == "human":
            return Score(None, pending=True)
        if spec.kind in {"judge", "faithfulness"}:
            if models is None:
                return Score(None, "No judge model.")
            return await judge(spec, sample, models)
        if spec.kind == "pairwise":
            if models is None:
                return Score(None, "No judge model.")
            return await pairwise(spec, sample, models)
        if spec.kind == "embedding":
            if embed is None:
                return Score(None, "No embedding model.")
            return await asyncio.to_thread(embedding_scorer(embed), spec, sample)
        return SYNC_SCORERS[spec.kind](spec, sample)
    except Exception as exc:  # one evaluator's failure (a judge that is down) leaves the others' scores
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return Score(None, f"Not scored: {message}"[:500])


async def score_sample(
    specs: list[EvaluatorSpec], sample: SampleInput, *, models: JudgeModels | None, embed: Embed | None
) -> dict[str, Score]:
    scores = await asyncio.gather(*(_one(spec, sample, models, embed) for spec in specs))
    return {spec.name: score for spec, score in zip(specs, scores, strict=True)}
