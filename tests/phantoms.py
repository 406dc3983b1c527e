"""Analytic test phantoms shared by several test files."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def disc_sinogram(
    theta: np.ndarray,
    n: int,
    center: float,
    discs: Sequence[tuple[float, float, float, float]],
    sub: int = 8,
) -> np.ndarray:
    """Exact (pixel-integrated) sinogram (angle, n) of discs ``(x0, y0, r, mu)``, in pixels.

    Column j spans [j, j+1) and the rotation axis is at ``center``: the ray through
    detector position u (u = j + 0.5 at the middle of column j) is
    x cos(theta) + y sin(theta) = u - center, the geometry of tomosnake.recon and tomopy.
    Each column is averaged over ``sub`` sub-rays.
    """
    u = (np.arange(n * sub) + 0.5) / sub - center
    out = np.zeros((len(theta), n * sub))
    for x0, y0, r, mu in discs:
        s0 = x0 * np.cos(theta) + y0 * np.sin(theta)
        out += mu * 2 * np.sqrt(np.clip(r**2 - (u[None, :] - s0[:, None]) ** 2, 0, None))
    return out.reshape(len(theta), n, sub).mean(-1)
