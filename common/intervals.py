"""Bootstrap 95% intervals of a mean and of a paired difference of means (SciPy's percentile bootstrap,
with a fixed seed so a figure is the same on every run)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RESAMPLES = 2000
CONFIDENCE = 0.95


def mean_interval(values: Sequence[float], seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high) of `values`; the interval is the mean itself when there are fewer than two."""
    data = np.asarray(values, dtype=np.float64)
    if len(data) == 0:
        return (float("nan"),) * 3
    mean = float(data.mean())
    if len(data) < 2 or np.ptp(data) == 0:
        return mean, mean, mean
    from scipy.stats import bootstrap

    result = bootstrap(
        (data,),
        np.mean,
        n_resamples=RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return mean, float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_difference_interval(
    values: Sequence[float], reference: Sequence[float], seed: int = 0
) -> tuple[float, float, float]:
    """(mean of values - reference, low, high), pairs resampled together."""
    return mean_interval(np.asarray(values, np.float64) - np.asarray(reference, np.float64), seed)
