"""Statistics of an evaluation (pure: numpy and scipy, no Django).

The unit is the dataset item: its N samples give the item's mean and variance; an evaluator's
score is the mean over items with a percentile-bootstrap 95% confidence interval (items
resampled). A comparison with a baseline pairs items by their stable key and tests the per-item
differences with the Wilcoxon signed-rank test (scipy; zero differences dropped, exact
distribution for small samples); the paired bootstrap gives the difference's 95% interval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats as scipy_stats

ALPHA = 0.05
BOOTSTRAP_ROUNDS = 2000


def item_mean_variance(samples: list[float]) -> tuple[float, float]:
    """An item's mean over its samples and their sample variance (0 for a single sample)."""
    values = np.asarray(samples, dtype=float)
    variance = float(values.var(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), variance


def bootstrap_ci(
    values: list[float] | NDArray[np.float64], *, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, low, high): the 2.5th and 97.5th percentiles of `rounds` resampled means."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return float("nan"), float("nan"), float("nan")
    if data.size == 1:
        return float(data[0]), float(data[0]), float(data[0])
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(rounds, data.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(data.mean()), float(low), float(high)


def wilcoxon_p(differences: NDArray[np.float64]) -> NDArray[np.float64]:
    """Two-sided Wilcoxon signed-rank p-values, one per row of `differences` (rows of only zero
    differences: p = 1)."""
    diffs = np.atleast_2d(np.asarray(differences, dtype=float))
    p_values = np.ones(diffs.shape[0])
    nonzero = np.any(diffs != 0, axis=1)
    if nonzero.any():
        result = scipy_stats.wilcoxon(diffs[nonzero], axis=1, zero_method="wilcox", alternative="two-sided")
        p_values[nonzero] = np.nan_to_num(np.asarray(result.pvalue, dtype=float), nan=1.0)
    return p_values


@dataclass(frozen=True)
class Comparison:
    n: int  # items in both runs
    mean_difference: float  # candidate - baseline
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    direction: str  # "better", "worse" or "same"
    improved: int  # items whose mean rose
    regressed: int  # items whose mean fell

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def paired_compare(candidate: dict[str, float], baseline: dict[str, float], *, alpha: float = ALPHA) -> Comparison:
    """Per-item means of a candidate and a baseline run, paired by item key."""
    keys = sorted(set(candidate) & set(baseline))
    if not keys:
        return Comparison(0, 0.0, 0.0, 0.0, 1.0, False, "same", 0, 0)
    diffs = np.array([candidate[key] - baseline[key] for key in keys], dtype=float)
    p_value = float(wilcoxon_p(diffs)[0]) if len(keys) > 1 else 1.0
    mean, low, high = bootstrap_ci(diffs)
    significant = p_value < alpha
    direction = "same" if not significant else ("better" if mean > 0 else "worse")
    return Comparison(
        n=len(keys),
        mean_difference=mean,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        significant=significant,
        direction=direction,
        improved=int((diffs > 0).sum()),
        regressed=int((diffs < 0).sum()),
    )


def evaluator_summary(item_scores: dict[str, list[float]]) -> dict[str, Any]:
    """One evaluator over an evaluation: per-item (mean, variance) and the mean of item means
    with its bootstrap 95% interval."""
    items = {key: item_mean_variance(values) for key, values in item_scores.items() if values}
    means = [mean for mean, _ in items.values()]
    mean, low, high = bootstrap_ci(means)
    variances = [variance for _, variance in items.values()]
    return {
        "n": len(means),
        "mean": None if not means else mean,
        "ci_low": None if not means else low,
        "ci_high": None if not means else high,
        "mean_sample_variance": float(np.mean(variances)) if variances else None,
        "items": {key: {"mean": m, "variance": v} for key, (m, v) in items.items()},
    }
