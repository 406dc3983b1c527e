"""Half-acquisition (offset-axis, extended field of view) 360-degree scans to 180-degree data.

With the rotation axis near one detector edge, a 360-degree scan sees one half of the sample
from 0 to 180 degrees and the other half, mirrored, from 180 to 360 degrees. Joining each
projection at theta with the mirrored projection at theta + 180 degrees gives a 180-degree scan
on a detector about twice as wide, with the axis in its middle.
"""

from __future__ import annotations

import numpy as np

from tomosnake.errors import InputError
from tomosnake.preprocess.center import half_pair, is_360


def _sample(rows: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of ``rows[..., x]`` at fractional column indices ``pos``.

    Positions up to one pixel outside the detector take the edge value (the stitched detector
    is rounded up to whole pixels)."""
    n = rows.shape[-1]
    valid = (pos > -1.0) & (pos < n)
    p = np.clip(pos, 0, n - 1)
    i0 = np.clip(np.floor(p).astype(int), 0, n - 2) if n > 1 else np.zeros_like(p, dtype=int)
    w = p - i0
    vals = rows[..., i0] * (1 - w) + rows[..., np.minimum(i0 + 1, n - 1)] * w
    return vals, valid


def stitch_half_acquisition(
    proj360: np.ndarray, theta: np.ndarray, center: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Join a 360-degree half-acquisition scan into 180-degree data of about double width.

    Args:
        proj360: projections (angle, z, x) or a sinogram (angle, x), line integrals, with
            angles ``theta`` (radians) covering 360 degrees.
        theta: angles, radians.
        center: rotation axis, tomopy convention (column j spans [j, j+1)), on ``proj360``.

    Returns:
        ``(proj180, theta180, new_center)``: projections (angle, [z,] W) at the angles in
        [theta0, theta0 + 180 deg), with ``W = 2 * ceil(max(center, n - center))`` columns and the
        axis at ``new_center = W / 2``. In the overlap of the two halves the values are blended
        with linear ramps.
    """
    a = np.asarray(proj360, dtype=np.float32)
    t = np.asarray(theta, dtype=np.float64)
    if a.ndim not in (2, 3) or a.shape[0] != t.size:
        raise InputError(f"half acquisition needs (angle, [z,] x) data with {t.size} angles, "
                         f"got {a.shape}")
    if not is_360(t):
        raise InputError("half-acquisition stitching needs a scan covering 360 degrees")
    n = a.shape[-1]
    if not 0 < center < n:
        raise InputError(f"rotation centre {center} is outside the detector (0..{n})")
    first, second = half_pair(a, t)
    theta180 = np.sort(t)[: first.shape[0]]
    half = int(np.ceil(max(center, n - center) - 1e-6))
    width = 2 * half
    s = np.arange(width) + 0.5 - half  # new column centres relative to the axis
    pos_a = s + center - 0.5  # column index in the first half
    pos_b = center - s - 0.5  # mirrored column index in the second half
    va, ok_a = _sample(first, pos_a)
    vb, ok_b = _sample(second, pos_b)
    # ramp weights: distance (in pixels) to the own detector edge, zero outside the detector
    wa = np.where(ok_a, np.minimum(pos_a + 0.5, n - 0.5 - pos_a), 0.0)
    wb = np.where(ok_b, np.minimum(pos_b + 0.5, n - 0.5 - pos_b), 0.0)
    both = ok_a & ok_b
    ramp = max(int(both.sum()), 1)
    wa = np.where(both, np.clip(wa / ramp, 1e-6, None), ok_a.astype(float))
    wb = np.where(both, np.clip(wb / ramp, 1e-6, None), ok_b.astype(float))
    tot = wa + wb
    if np.any(tot == 0):
        raise InputError("the two halves of the half-acquisition scan leave a gap; "
                         "check the rotation centre")
    out = (va * (wa / tot) + vb * (wb / tot)).astype(np.float32)
    return out, theta180, float(half)
