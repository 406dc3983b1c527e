"""Half-acquisition (offset-axis, extended field of view) 360-degree scans to 180-degree data.

With the rotation axis near one detector edge, a 360-degree scan sees one half of the sample
from 0 to 180 degrees and the other half, mirrored, from 180 to 360 degrees. Joining each
projection at theta with the mirrored projection at theta + 180 degrees gives a 180-degree scan
on a detector about twice as wide, with the axis in its middle.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from tomosnake import threads
from tomosnake.errors import InputError
from tomosnake.preprocess.center import half_pair, is_360


def _sample(rows: np.ndarray, offset: float, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``rows[..., k + offset]`` for k = 0 .. width - 1, and where that lies on the detector.

    The fractional part is a Fourier shift of the edge-padded rows (band-limited: every
    offset keeps the same resolution; linear interpolation blurred half-pixel offsets and
    made the stitched slices' sharpness alternate with the centre). Positions up to one
    pixel outside the detector count as on it (the stitched detector is rounded up to whole
    pixels); outside, values are the edge values.
    """
    n = rows.shape[-1]
    i0 = int(np.floor(offset))
    frac = offset - i0
    pad = n // 2 + 2
    m = int(2 ** np.ceil(np.log2(n + 2 * pad)))
    wide = np.pad(rows, [(0, 0)] * (rows.ndim - 1) + [(pad, m - n - pad)], mode="edge")
    if frac:
        spec = scipy.fft.rfft(wide, axis=-1, workers=threads.current())
        spec *= np.exp(2j * np.pi * np.fft.rfftfreq(m) * frac)
        wide = scipy.fft.irfft(spec, n=m, axis=-1, workers=threads.current())
    k = np.arange(width)
    vals = wide[..., np.clip(k + i0 + pad, 0, m - 1)]
    pos = k + offset
    return vals, (pos > -1.0) & (pos < n)


def stitch_half_acquisition(
    proj360: np.ndarray, theta: np.ndarray, center: float, width: int | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Join a 360-degree half-acquisition scan into 180-degree data of about double width.

    Args:
        proj360: projections (angle, z, x) or a sinogram (angle, x), line integrals, with
            angles ``theta`` (radians) covering 360 degrees.
        theta: angles, radians.
        center: rotation axis, tomopy convention (column j spans [j, j+1)), on ``proj360``.
        width: stitched width (even); default ``2 * ceil(max(center, n - center))``. A common
            width stitches rows with slightly different centres (a tilted axis) onto one
            detector with the axis at ``width / 2`` for all; columns beyond both halves take
            the mean of their edge values.

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
    need = int(np.ceil(max(center, n - center) - 1e-6))
    if width is not None and (width % 2 or width < 2 * need):
        raise InputError(f"stitched width {width} must be even and >= {2 * need} for centre "
                         f"{center} on {n} columns")
    half = need if width is None else width // 2
    width = 2 * half
    s = np.arange(width) + 0.5 - half  # new column centres relative to the axis
    pos_a = s + center - 0.5  # column index in the first half: k + center - half
    pos_b = center - s - 0.5  # mirrored column index in the second half
    va, ok_a = _sample(first, center - half, width)
    # second[center + half - 1 - k] = flipped second at k + n - center - half
    vb, ok_b = _sample(second[..., ::-1], n - center - half, width)
    # ramp weights: distance (in pixels) to the own detector edge, zero outside the detector
    wa = np.where(ok_a, np.minimum(pos_a + 0.5, n - 0.5 - pos_a), 0.0)
    wb = np.where(ok_b, np.minimum(pos_b + 0.5, n - 0.5 - pos_b), 0.0)
    both = ok_a & ok_b
    ramp = max(int(both.sum()), 1)
    wa = np.where(both, np.clip(wa / ramp, 1e-6, None), ok_a.astype(float))
    wb = np.where(both, np.clip(wb / ramp, 1e-6, None), ok_b.astype(float))
    beyond = ~ok_a & ~ok_b & ((pos_a < 0) & (pos_b >= n) | (pos_a >= n) & (pos_b < 0))
    wa, wb = np.where(beyond, 0.5, wa), np.where(beyond, 0.5, wb)
    tot = wa + wb
    if np.any(tot == 0):
        raise InputError("the two halves of the half-acquisition scan leave a gap; "
                         "check the rotation centre")
    out = (va * (wa / tot) + vb * (wb / tot)).astype(np.float32)
    return out, theta180, float(half)
