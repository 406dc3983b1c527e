"""Rotation-centre finding on sinograms (angle, x) and projection pairs.

Every centre returned here is a detector column coordinate in tomopy's convention: column ``j``
spans ``[j, j + 1)``, so its middle is at ``j + 0.5`` and the middle of an ``n``-column detector is
``n / 2``. A sinogram that is mirror-symmetric about the middle of the detector (``sino[:, j] ==
sino[:, n - 1 - j]``) therefore has its centre at ``n / 2``. (tomopy's own ``find_center_vo`` and
``find_center_pc`` return pixel-centre coordinates, ``(n - 1) / 2`` for that case; ours are 0.5
larger.)

Methods:

* :func:`find_center_vo`: Vo et al., Opt. Express 22 (2014) 19078: a 180-degree sinogram stacked
  with its mirror (which is the 180-360 degree half for the right centre) gives a 360-degree
  sinogram whose 2-D Fourier energy outside the double wedge is smallest at the right centre.
  Coarse search on a half-pixel grid, then a fine search with sub-pixel shifts.
* :func:`find_center_pc`: phase correlation of a projection and the mirrored projection taken
  180 degrees later (tomopy's ``find_center_pc``, Guizar-Sicairos sub-pixel registration).
* :func:`find_center_360`: for 360-degree scans, including half-acquisition scans whose axis is
  near the detector edge: the 0-180 half is compared with the mirrored 180-360 half over their
  overlap for every half-pixel centre, refined by a parabola.
* :func:`find_center`: picks the 180-degree part of a scan from its angles and dispatches.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from scipy import ndimage

from tomosnake import threads
from tomosnake.errors import ConfigError, InputError

CENTER_METHODS = ("vo", "pc", "360")


def _check_sino(sino: np.ndarray) -> np.ndarray:
    s = np.asarray(sino, dtype=np.float32)
    if s.ndim != 2 or min(s.shape) < 4:
        raise InputError(
            f"a sinogram must be 2-D (angle, x) with at least 4x4 values, got {s.shape}"
        )
    if not np.all(np.isfinite(s)):
        raise InputError("sinogram holds NaN or inf values; cannot find the centre")
    return s


def _vo_mask(nrow: int, ncol: int, radius: float, drop: int) -> np.ndarray:
    """Fourier-space mask outside the double wedge (Eq. 3 of Vo et al. 2014), fftshifted layout."""
    du = 1.0 / ncol
    dv = (nrow - 1.0) / (nrow * 2.0 * np.pi)
    cen_row = int(np.ceil(nrow / 2.0) - 1)
    cen_col = int(np.ceil(ncol / 2.0) - 1)
    drop = min(drop, int(np.ceil(0.1 * nrow)))
    half_width = np.round(np.abs(np.arange(nrow) - cen_row) * dv / radius / du).astype(int)
    cols = np.abs(np.arange(ncol)[None, :] - cen_col)
    mask = (cols <= half_width[:, None]).astype(np.float32)
    mask[max(cen_row - drop, 0):cen_row + drop + 1, :] = 0.0
    mask[:, max(cen_col - 1, 0):cen_col + 2] = 0.0
    return mask


def _vo_metric(sino: np.ndarray, flip: np.ndarray, comp: np.ndarray, shift: float,
               mask: np.ndarray, integer: bool) -> float:
    if integer:
        k = int(round(shift))
        moved = np.roll(flip, k, axis=1)
    else:
        moved = ndimage.shift(flip, (0, shift), order=3, mode="nearest", prefilter=True)
        k = int(np.ceil(shift)) if shift >= 0 else int(np.floor(shift))
    # columns rolled/shifted in from outside the detector are replaced by the flipped-up sinogram
    if k > 0:
        moved[:, :k] = comp[:, :k]
    elif k < 0:
        moved[:, k:] = comp[:, k:]
    joined = np.vstack((sino, moved))
    spec = scipy.fft.fft2(joined, workers=threads.current())
    return float(np.mean(np.abs(np.fft.fftshift(spec)) * mask))


def find_center_vo(
    sino: np.ndarray,
    *,
    search_range: float | None = None,
    guess: float | None = None,
    ratio: float = 0.5,
    drop: int = 20,
    fine_step: float = 0.1,
) -> float:
    """Rotation centre of a 180-degree sinogram by Vo's Fourier double-wedge metric.

    Args:
        sino: sinogram (angle, x) covering [theta0, theta0 + 180 deg), line integrals.
        search_range: coarse search half-width in pixels around ``guess`` (default n/4).
        guess: centre of the coarse search, tomopy convention (default n/2).
        ratio: object radius as a fraction of the detector half width, sets the mask wedge.
        drop: rows around zero angular frequency ignored by the metric.
        fine_step: step of the sub-pixel search in pixels.

    Returns:
        centre in tomopy's convention (middle of the detector = n/2), pixels.
    """
    s = _check_sino(sino)
    nrow, ncol = s.shape
    if nrow > 512:  # the metric needs the angular trend, not every angle
        s = s[:: int(np.ceil(nrow / 512))]
        nrow = s.shape[0]
    half = ncol / 4.0 if search_range is None else float(search_range)
    guess_pc = (ncol - 1.0) / 2.0 if guess is None else guess - 0.5
    # coarse search on a detector binned to <= 128 columns, on its half-pixel grid
    binning = max(1, ncol // 128)
    if binning > 1:
        nb = ncol // binning
        coarse_sino = s[:, : nb * binning].reshape(nrow, nb, binning).mean(axis=2)
        g = (guess_pc + 0.5) / binning - 0.5  # pixel-centre coordinate on the binned detector
        c0 = _vo_search(coarse_sino, g, half / binning, ratio, drop, None)
        c0 = (c0 + 0.5) * binning - 0.5
        c0 = _vo_search(s, c0, 1.0 * binning, ratio, drop, None)
    else:
        c0 = _vo_search(s, guess_pc, half, ratio, drop, None)
    return round(float(_vo_search(s, c0, 1.0, ratio, drop, fine_step) + 0.5), 4)


def _vo_search(s: np.ndarray, guess_pc: float, half: float, ratio: float, drop: int,
               step: float | None) -> float:
    """Best pixel-centre coordinate within ``guess_pc +- half``: on the half-pixel grid with
    integer column rolls if ``step`` is None, else on a ``step`` grid with sub-pixel shifts."""
    nrow, ncol = s.shape
    mid = (ncol - 1.0) / 2.0
    flip = np.fliplr(s)
    comp = np.flipud(s)
    mask = _vo_mask(2 * nrow, ncol, max(0.5 * ratio * ncol, 1.0), drop)
    lo_c, hi_c = max(guess_pc - half, 1.0), min(guess_pc + half, ncol - 2.0)
    if step is None:
        shifts = np.arange(int(np.floor(2 * (lo_c - mid))), int(np.ceil(2 * (hi_c - mid))) + 1)
        cost = [_vo_metric(s, flip, comp, k, mask, True) for k in shifts]
        return float(mid + shifts[int(np.argmin(cost))] / 2.0)
    cands = np.arange(lo_c, hi_c + step / 2, step)
    cost = [_vo_metric(s, flip, comp, 2.0 * (c - mid), mask, False) for c in cands]
    return float(cands[int(np.argmin(cost))])


def find_center_pc(proj_a: np.ndarray, proj_b: np.ndarray, upsample: int = 20) -> float:
    """Rotation centre from a projection and the one 180 degrees later, by phase correlation.

    Args:
        proj_a: projection (z, x) or detector row (x,) at angle theta.
        proj_b: projection at theta + 180 deg, same shape.
        upsample: sub-pixel precision 1/upsample of the registration.

    Returns:
        centre in tomopy's convention, pixels: ``proj_a`` equals ``fliplr(proj_b)`` shifted by
        ``s`` columns, and the centre is ``(n + s) / 2``.
    """
    from skimage.registration import phase_cross_correlation

    a = np.atleast_2d(np.asarray(proj_a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(proj_b, dtype=np.float64))
    if a.shape != b.shape:
        raise InputError(f"projections to compare have shapes {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise InputError("projections hold NaN or inf values; cannot find the centre")
    a = a - a.mean()
    b = b - b.mean()
    shift, _, _ = phase_cross_correlation(a, np.fliplr(b), upsample_factor=upsample,
                                          normalization=None)
    return float((a.shape[1] + shift[-1]) / 2.0)


def find_center_360(sino_a: np.ndarray, sino_b: np.ndarray, min_overlap: int = 16) -> float:
    """Centre from two sinogram halves 180 degrees apart, by mirrored-overlap matching.

    Works for any axis position whose mirrored halves overlap by at least ``min_overlap``
    columns, so also for half-acquisition (offset-axis) scans.

    Args:
        sino_a: sinogram (angle, x) at angles theta_i in [theta0, theta0 + 180 deg).
        sino_b: sinogram at theta_i + 180 deg, same shape.
        min_overlap: smallest number of overlapping columns considered.

    Returns:
        centre in tomopy's convention, pixels.
    """
    a = _check_sino(sino_a).astype(np.float64)
    b = _check_sino(sino_b).astype(np.float64)
    if a.shape != b.shape:
        raise InputError(f"sinogram halves have shapes {a.shape} and {b.shape}")
    n = a.shape[1]
    if a.shape[0] > 256:  # a few hundred angles are plenty for the overlap match
        step = a.shape[0] // 256 + 1
        a, b = a[::step], b[::step]
    if n > 512:  # coarse match on a 4x binned detector, then refine at full resolution
        nb = n // 4
        bin_a = a[:, : nb * 4].reshape(a.shape[0], nb, 4).mean(axis=2)
        bin_b = b[:, : nb * 4].reshape(b.shape[0], nb, 4).mean(axis=2)
        m0 = 2 * 4 * _overlap_search(bin_a, bin_b, np.arange(min_overlap // 4 + 1,
                                                              2 * nb - min_overlap // 4))
        ms = np.arange(max(min_overlap, int(m0) - 12), min(2 * n - min_overlap, int(m0) + 12) + 1)
    else:
        ms = np.arange(min_overlap, 2 * n - min_overlap + 1)
    return float(_overlap_search(a, b, ms))


def _overlap_search(a: np.ndarray, b: np.ndarray, ms: np.ndarray) -> float:
    """Best centre (tomopy convention) among ``ms / 2`` by mirrored-overlap correlation."""
    n = a.shape[1]
    # For the centre c (tomopy convention) with m = 2c integer, column j of a faces column
    # m - 1 - j of b (pixel centres j + 0.5 and 2c - j - 0.5). The cost is 1 - the normalised
    # cross-correlation over the overlap; overlaps with little structure (air only) are skipped.
    floor = 0.05 * min(a.var(), b.var())
    cost = np.full(ms.size, np.inf)
    for i, m in enumerate(ms):
        j0, j1 = max(0, m - n), min(n, m)
        ov_a = a[:, j0:j1]
        ov_b = b[:, m - 1 - j0 : m - 1 - j1 : -1] if m - 1 - j1 >= 0 else b[:, m - 1 - j0 :: -1]
        va, vb = ov_a.var(), ov_b.var()
        if min(va, vb) < floor:
            continue
        cov = np.mean((ov_a - ov_a.mean()) * (ov_b - ov_b.mean()))
        cost[i] = 1.0 - cov / np.sqrt(va * vb)
    if not np.isfinite(cost).any():
        raise InputError("the two sinogram halves share no structured overlap; no centre found")
    k = int(np.argmin(cost))
    off = 0.0
    if 0 < k < cost.size - 1 and np.isfinite(cost[k - 1]) and np.isfinite(cost[k + 1]):
        y0, y1, y2 = cost[k - 1], cost[k], cost[k + 1]
        den = y0 - 2 * y1 + y2
        if den > 0:
            off = 0.5 * (y0 - y2) / den
    return float((ms[k] + off) / 2.0)


def theta_span(theta: np.ndarray) -> float:
    """Angular range covered by ``theta`` including one angular step, radians."""
    t = np.sort(np.asarray(theta, dtype=np.float64))
    if t.size < 2:
        return 0.0
    return float(t[-1] - t[0] + np.median(np.diff(t)))


def is_360(theta: np.ndarray) -> bool:
    """True if the scan covers (about) 360 degrees: range plus one step >= 1.9 pi."""
    return theta_span(theta) >= 1.9 * np.pi


def half_pair(sino: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows at angles in [theta0, theta0 + pi) and the data at those angles + pi.

    Works on sinograms (angle, x) and projections (angle, z, x).

    The second half is interpolated linearly along the angle where the 180-degree partners do
    not fall on measured angles (e.g. an odd number of angles over 360 degrees); angles are
    treated as periodic over 2 pi. Needs a scan covering about 360 degrees.
    """
    t = np.asarray(theta, dtype=np.float64)
    order = np.argsort(t)
    t, s = t[order], np.asarray(sino)[order]
    rel = t - t[0]
    first = rel < np.pi - 1e-9
    target = rel[first] + np.pi
    # periodic extension by one row for interpolation beyond the last angle
    rel_ext = np.concatenate([rel, [2 * np.pi]])
    s_ext = np.concatenate([s, s[:1]], axis=0)
    idx = np.clip(np.searchsorted(rel_ext, target, side="right") - 1, 0, rel_ext.size - 2)
    w = ((target - rel_ext[idx]) / (rel_ext[idx + 1] - rel_ext[idx]))[:, None]
    w = w.reshape(-1, *([1] * (s.ndim - 1)))
    second = (1 - w) * s_ext[idx] + w * s_ext[idx + 1]
    return s[first].astype(np.float32), second.astype(np.float32)


def find_center(sino: np.ndarray, theta: np.ndarray, method: str = "vo", **kwargs: float) -> float:
    """Rotation centre of a sinogram (angle, x) with angles ``theta`` (radians), tomopy convention.

    ``method``: ``"vo"`` (for a 360-degree scan: the mean over its two 180-degree halves),
    ``"pc"`` (phase correlation of the first-180-degree sinogram with the mirrored sinogram
    180 degrees later; for a 180-degree
    scan the projection pair closest to 180 degrees apart), ``"360"`` (mirrored-overlap
    matching; needs a 360-degree scan, works with the axis near the edge).
    """
    s = _check_sino(sino)
    t = np.asarray(theta, dtype=np.float64)
    if t.size != s.shape[0]:
        raise InputError(f"{t.size} angles for a sinogram with {s.shape[0]} rows")
    if method not in CENTER_METHODS:
        raise ConfigError(f"center_method must be one of {CENTER_METHODS}, got {method!r}")
    full = is_360(t)
    if method == "360":
        if not full:
            raise ConfigError("center_method '360' needs a 360-degree scan")
        return find_center_360(*half_pair(s, t))
    if method == "vo" and full:  # both 180-degree halves, averaged
        a, b = half_pair(s, t)
        return round(0.5 * (find_center_vo(a, **kwargs) + find_center_vo(b, **kwargs)), 4)
    if method == "vo":
        order = np.argsort(t)
        keep = order[(t[order] - t[order][0]) < np.pi - 1e-9]
        return find_center_vo(s[keep], **kwargs)
    if full:
        a, b = half_pair(s, t)
        return find_center_pc(a, b)
    if theta_span(t) < np.pi * 0.98:
        raise InputError(f"scan covers {np.degrees(theta_span(t)):.1f} deg; "
                         "phase correlation needs projections 180 deg apart")
    i = int(np.argmin(t))
    j = int(np.argmin(np.abs(t - (t[i] + np.pi))))
    return find_center_pc(s[i], s[j])
