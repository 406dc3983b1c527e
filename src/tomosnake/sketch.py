"""A volume's grey-value distribution kept as quantiles, measured where the data pass anyway.

Each recon job records the quantiles of its slab; joining slabs merges them (weighted by
voxel count) into the volume's. Segmentation (normalisation percentiles, Otsu thresholds)
and display windows read these few numbers instead of reading the volume again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: quantile levels kept per sketch (evenly spaced probabilities 0..1)
LEVELS = 1025


def sketch(values: np.ndarray) -> dict[str, object]:
    """Quantiles of the finite values of an array: {"count": n, "quantiles": [LEVELS floats]}."""
    v = np.asarray(values, dtype=np.float32).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"count": 0, "quantiles": []}
    q = np.quantile(v, np.linspace(0, 1, LEVELS))
    return {"count": int(v.size), "quantiles": [float(x) for x in q]}


def merge(sketches: Sequence[dict]) -> dict[str, object]:
    """One sketch of the union of the data behind ``sketches``.

    Each sketch is a piecewise-linear distribution function through its quantiles; the
    merged function is their average weighted by voxel count, inverted at the levels.
    """
    parts = [s for s in sketches if s["count"]]
    if not parts:
        return {"count": 0, "quantiles": []}
    xs = np.unique(np.concatenate([np.asarray(s["quantiles"]) for s in parts]))
    total = sum(s["count"] for s in parts)
    cdf = np.zeros_like(xs)
    for s in parts:
        q = np.asarray(s["quantiles"])
        cdf += s["count"] / total * np.interp(xs, q, np.linspace(0, 1, q.size), left=0, right=1)
    q = np.interp(np.linspace(0, 1, LEVELS), cdf, xs)
    return {"count": int(total), "quantiles": [float(x) for x in q]}


def percentile(sk: dict, pct: float) -> float:
    """The ``pct`` percentile (0..100) of the sketched data."""
    q = np.asarray(sk["quantiles"])
    return float(np.interp(pct / 100, np.linspace(0, 1, q.size), q))


def samples(sk: dict) -> np.ndarray:
    """Equal-weight samples of the sketched distribution (for Otsu thresholds, histograms)."""
    return np.asarray(sk["quantiles"], dtype=np.float32)
