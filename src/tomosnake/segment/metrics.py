"""Agreement of a segmentation with ground truth: per-phase intersection over union."""

from __future__ import annotations

import numpy as np


def iou_per_phase(pred: np.ndarray, truth: np.ndarray, phases: dict[str, int]) -> dict[str, float]:
    """IoU of each phase (name -> value) between two label arrays of equal shape, plus 'mean'."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
    out = {}
    for name, v in phases.items():
        p, t = pred == v, truth == v
        union = np.count_nonzero(p | t)
        out[name] = float(np.count_nonzero(p & t) / union) if union else float("nan")
    out["mean"] = float(np.nanmean([out[n] for n in phases]))
    return out
