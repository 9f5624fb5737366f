"""The statistics: a known effect is detected; with no effect the paired test is significant at
its nominal rate (1,000 simulations, vectorized)."""

from __future__ import annotations

import numpy as np

from apps.evaluation.stats import bootstrap_ci, evaluator_summary, item_mean_variance, paired_compare, wilcoxon_p


def test_stats_item_mean_and_variance() -> None:
    assert item_mean_variance([1.0, 0.0, 1.0]) == (2 / 3, np.var([1.0, 0.0, 1.0], ddof=1))
    assert item_mean_variance([0.5]) == (0.5, 0.0)


def test_stats_bootstrap_interval_holds_the_mean() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(0.6, 0.1, size=200)
    mean, low, high = bootstrap_ci(values)
    assert low < mean < high
    assert high - low < 0.05  # about 4 standard errors (0.1 / sqrt(200) = 0.007)
    assert bootstrap_ci([0.3, 0.3, 0.3]) == (0.3, 0.3, 0.3)


def test_stats_paired_test_detects_a_known_effect() -> None:
    rng = np.random.default_rng(7)
    base = rng.uniform(0.2, 0.8, size=40)
    better = base + 0.05 + rng.normal(0, 0.05, size=40)
    keys = [f"item-{i}" for i in range(40)]
    comparison = paired_compare(dict(zip(keys, better, strict=True)), dict(zip(keys, base, strict=True)))
    assert comparison.significant
    assert comparison.direction == "better"
    assert comparison.ci_low > 0
    worse = paired_compare(dict(zip(keys, base, strict=True)), dict(zip(keys, better, strict=True)))
    assert worse.significant and worse.direction == "worse"


def test_stats_no_effect_false_positive_rate_is_nominal() -> None:
    rng = np.random.default_rng(2026)
    simulations, items = 1000, 30
    base = rng.uniform(0, 1, size=(simulations, items))
    # The same system twice: each item's score moves by noise only.
    candidate = base + rng.normal(0, 0.1, size=(simulations, items))
    rate = float((wilcoxon_p(candidate - base) < 0.05).mean())
    assert 0.03 <= rate <= 0.07, rate


def test_stats_identical_runs_are_not_different() -> None:
    scores = {"a": 1.0, "b": 0.0, "c": 0.5}
    comparison = paired_compare(scores, dict(scores))
    assert not comparison.significant
    assert comparison.p_value == 1.0


def test_stats_evaluator_summary_over_items() -> None:
    summary = evaluator_summary({"a": [1.0, 1.0], "b": [0.0, 1.0]})
    assert summary["n"] == 2
    assert summary["mean"] == 0.75
    assert summary["items"]["b"] == {"mean": 0.5, "variance": 0.5}
