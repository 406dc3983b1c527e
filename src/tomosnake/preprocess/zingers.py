"""Zinger (bright outlier) removal in projections, like ``tomopy.remove_outlier``."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tomosnake.errors import ConfigError


def remove_outlier(proj: np.ndarray, dif: float | None = None, size: int = 3,
                   k: float = 6.0) -> np.ndarray:
    """Replace pixels brighter than their local median by more than ``dif`` with that median.

    Each projection (z, x) is median-filtered with a ``size`` x ``size`` window (one row if the
    data have a single z); a pixel is a zinger if ``value - median > dif``.

    Args:
        proj: projections (angle, z, x) or one image (z, x), any units (raw counts or
            normalised).
        dif: absolute threshold in the units of ``proj``. None: ``k`` times a robust noise
            estimate per projection (1.4826 x the median absolute deviation from the median
            filtered image).
        size: median window width in pixels (odd, >= 3).
        k: threshold in robust standard deviations when ``dif`` is None.

    Returns:
        float32 array of the same shape with zingers replaced.
    """
    if size < 3 or size % 2 == 0:
        raise ConfigError(f"zinger median window must be odd and >= 3, got {size}")
    a = np.asarray(proj, dtype=np.float32)
    single = a.ndim == 2
    if single:
        a = a[None]
    out = np.empty_like(a)
    win = (1, size) if a.shape[1] == 1 else (size, size)
    for i, img in enumerate(a):
        med = ndimage.median_filter(img, size=win, mode="reflect")
        resid = img - med
        if dif is None:
            thr = k * 1.4826 * float(np.median(np.abs(resid)))
            thr = max(thr, 1e-6 * float(np.abs(med).max()))
        else:
            thr = float(dif)
        out[i] = np.where(resid > thr, med, img)
    return out[0] if single else out
