"""Stripe (ring-artefact) removal on sinograms (angle, x).

* :func:`remove_stripe_sort`, :func:`remove_large_stripe`, :func:`remove_dead_stripe`,
  :func:`remove_all_stripe`: Vo, Atwood & Drakopoulos, "Superior techniques for eliminating ring
  artifacts in X-ray micro-tomography", Optics Express 26 (2018) 28396, algorithms 3-6 (reference
  implementation: sarepy). Written here from the paper's description, vectorised with
  ``argsort``/``take_along_axis``.
* :func:`remove_stripe_fw`: Fourier-wavelet filter of Münch et al., Optics Express 17 (2009)
  8567, numerically equal to ``tomopy.remove_stripe_fw`` (same padding, wavelet levels and
  damping).
* :func:`remove_stripe_ti`: Titarenko's regularised correction as in ``tomopy.remove_stripe_ti``.

All functions take and return float32 sinograms of line integrals (after -log) unless stated.
"""

from __future__ import annotations

import numpy as np
import pywt
from scipy import interpolate, ndimage

from tomosnake.errors import ConfigError

RING_METHODS = ("none", "sort", "large", "all", "fw", "ti")
#: columns whose mean is below this fraction of the largest are treated as air by the
#: large-stripe ratio test (sarepy divides by them, which amplifies noise in air)
AIR_FRACTION = 0.05


def _sino(sino: np.ndarray) -> np.ndarray:
    s = np.asarray(sino, dtype=np.float32)
    if s.ndim != 2:
        raise ConfigError(f"stripe removal works on 2-D sinograms (angle, x), got shape {s.shape}")
    return s


def _odd(size: int) -> int:
    return int(size) | 1


def _sort_smooth(sino: np.ndarray, smoothed_sorted: np.ndarray, order: np.ndarray) -> np.ndarray:
    out = np.empty_like(sino)
    np.put_along_axis(out, order, smoothed_sorted, axis=0)
    return out


def remove_stripe_sort(sino: np.ndarray, size: int | None = None, dim: int = 1) -> np.ndarray:
    """Sorting-based stripe removal (Vo 2018, algorithm 3): small-to-medium and partial stripes.

    Each detector column is sorted along the angle, the sorted image is median-filtered across
    columns (window ``size``; ``dim=2``: ``size`` x ``size``) and the values are put back in their
    original order.

    Args:
        sino: sinogram (angle, x).
        size: median window across columns, pixels; None: max(5, 1 % of the width) (21 above
            2000 columns), as tomopy.
        dim: 1 or 2, dimension of the median window.
    """
    s = _sino(sino)
    if size is None:
        size = 21 if s.shape[1] > 2000 else max(5, int(0.01 * s.shape[1]))
    order = np.argsort(s, axis=0, kind="stable")
    srt = np.take_along_axis(s, order, axis=0)
    win = (1, _odd(size)) if dim == 1 else (_odd(size), _odd(size))
    return _sort_smooth(s, ndimage.median_filter(srt, size=win, mode="reflect"), order)


def detect_stripe(values: np.ndarray, snr: float) -> np.ndarray:
    """Vo 2018 algorithm 4: mask (1.0 = stripe) of outliers in a per-column profile.

    The profile is sorted; a line fitted to its middle half gives the noise level; values
    farther than ``snr`` / 2 noise levels beyond the fit are stripes (if the extreme ones exceed
    ``snr`` noise levels).
    """
    n = values.size
    srt = np.sort(values)[::-1]
    x = np.arange(n, dtype=np.float64)
    nd = int(0.25 * n)
    slope, intercept = np.polyfit(x[nd : n - nd - 1], srt[nd : n - nd - 1], 1)
    last = intercept + slope * x[-1]
    noise = max(abs(last - intercept), 1e-6)
    mask = np.zeros(n, dtype=np.float32)
    if abs(srt[0] - intercept) / noise >= snr:
        mask[values > intercept + noise * snr * 0.5] = 1.0
    if abs(srt[-1] - last) / noise >= snr:
        mask[values <= last - noise * snr * 0.5] = 1.0
    return mask


def remove_large_stripe(sino: np.ndarray, snr: float = 3.0, size: int = 51,
                        drop_ratio: float = 0.1, norm: bool = True) -> np.ndarray:
    """Large-stripe removal (Vo 2018, algorithm 5).

    Columns are sorted along the angle and median-filtered across ``size`` columns; the ratio
    of the (trimmed) column means before/after locates large stripes (:func:`detect_stripe`),
    the sinogram is normalised by that ratio (``norm``) and the located columns are replaced by
    the smoothed sorted values put back in order. Unlike sarepy, columns whose mean is below
    :data:`AIR_FRACTION` of the largest column mean (air) keep a ratio of 1.
    """
    s = _sino(sino)
    nrow = s.shape[0]
    drop_ratio = float(np.clip(drop_ratio, 0.0, 0.8))
    nd = int(0.5 * drop_ratio * nrow)
    order = np.argsort(s, axis=0, kind="stable")
    srt = np.take_along_axis(s, order, axis=0)
    smooth = ndimage.median_filter(srt, size=(1, _odd(size)), mode="reflect")
    l1 = srt[nd : nrow - nd].mean(axis=0)
    l2 = smooth[nd : nrow - nd].mean(axis=0)
    # ratios are meaningless where the sinogram is ~0 (air after -log): keep 1 there and
    # look for stripes among the other columns only
    solid = np.abs(l2) > AIR_FRACTION * np.abs(l2).max()
    fact = np.divide(l1, l2, out=np.ones_like(l1), where=solid)
    found = np.zeros(fact.size, dtype=bool)
    if solid.sum() >= 8:
        found[solid] = detect_stripe(fact[solid], snr) > 0
    mask = ndimage.binary_dilation(found)
    if norm:
        s = s / fact[None, :]
    out = s.copy()
    if mask.any():
        corrected = _sort_smooth(s, smooth, np.argsort(s, axis=0, kind="stable"))
        out[:, mask] = corrected[:, mask]
    return out.astype(np.float32)


def remove_dead_stripe(sino: np.ndarray, snr: float = 3.0, size: int = 51,
                       norm: bool = True) -> np.ndarray:
    """Unresponsive/fluctuating stripe removal (Vo 2018, algorithm 6).

    Columns whose angular roughness (sum |column - its 10-row moving average|) stands out from
    a median across ``size`` columns are replaced by linear interpolation from their
    neighbours; then :func:`remove_large_stripe` cleans what is left (``norm``).
    """
    s = _sino(sino).copy()
    smooth = ndimage.uniform_filter1d(s, 10, axis=0)
    diff = np.abs(s - smooth).sum(axis=0)
    back = ndimage.median_filter(diff, _odd(size))
    fact = np.divide(diff, back, out=np.ones_like(diff), where=back != 0)
    mask = ndimage.binary_dilation(detect_stripe(fact, snr) > 0)
    mask[:2] = False
    mask[-2:] = False
    if mask.any():
        good = np.flatnonzero(~mask)
        s[:, mask] = interpolate.interp1d(good, s[:, good], axis=1)(np.flatnonzero(mask))
    if norm:
        s = remove_large_stripe(s, snr, size)
    return s


def remove_all_stripe(sino: np.ndarray, snr: float = 3.0, la_size: int = 61,
                      sm_size: int = 21, dim: int = 1) -> np.ndarray:
    """All stripe types (Vo 2018, algorithms 3-6 combined).

    Dead/fluctuating and large stripes (:func:`remove_dead_stripe` with ``la_size``), then
    small-to-medium ones (:func:`remove_stripe_sort` with ``sm_size``).
    """
    s = remove_dead_stripe(sino, snr, la_size)
    return remove_stripe_sort(s, sm_size, dim)


def fw_default_level(shape: tuple[int, ...]) -> int:
    """tomopy's default number of wavelet levels: ceil(log2(largest dimension))."""
    return int(np.ceil(np.log2(max(shape))))


def remove_stripe_fw(sino: np.ndarray, level: int | None = None, wname: str = "db5",
                     sigma: float = 2.0, pad: bool = True) -> np.ndarray:
    """Fourier-wavelet stripe removal (Münch et al. 2009), as ``tomopy.remove_stripe_fw``.

    The sinogram (zero-padded by n_angle // 16 rows on each side if ``pad``) is decomposed
    into ``level`` wavelet levels; the vertical detail bands are damped in Fourier space along
    the angle by ``1 - exp(-k^2 / (2 sigma^2))`` and the sinogram is recomposed.

    Args:
        sino: sinogram (angle, x).
        level: wavelet levels; None: ceil(log2(max(n_angle, n_x))). Note that tomopy's default
            uses the largest dimension of the whole 3-D stack, which may include the number of
            slices; pass ``level`` to reproduce that exactly.
        wname: PyWavelets wavelet name.
        sigma: damping width in Fourier space.
        pad: pad along the angle as tomopy does.
    """
    s = _sino(sino)
    nrow, ncol = s.shape
    if level is None:
        level = fw_default_level(s.shape)
    nx = nrow + nrow // 8 if pad else nrow
    xshift = (nx - nrow) // 2
    sli = np.zeros((nx, ncol), dtype=np.float32)
    sli[xshift : xshift + nrow] = s
    details = []
    for _ in range(level):
        sli, (ch, cv, cd) = pywt.dwt2(sli, wname)
        details.append((ch, cv, cd))
    for n, (ch, cv, cd) in enumerate(details):
        fcv = np.fft.fftshift(np.fft.fft(cv, axis=0), axes=0)
        my = fcv.shape[0]
        y_hat = (np.arange(-my, my, 2, dtype=np.float32) + 1) / 2
        damp = -np.expm1(-np.square(y_hat) / (2 * np.square(np.float32(sigma))))
        fcv *= damp[:, None]
        details[n] = (ch, np.real(np.fft.ifft(np.fft.ifftshift(fcv, axes=0), axis=0)), cd)
    for ch, cv, cd in reversed(details):
        sli = sli[: ch.shape[0], : ch.shape[1]]
        sli = pywt.idwt2((sli, (ch, cv, cd)), wname)
    return np.asarray(sli[xshift : xshift + nrow, :ncol], dtype=np.float32)


def _ti_kernel(m: int, n: int) -> np.ndarray:
    kernels = {
        (1, 1): [1, -1], (1, 2): [-3 / 2, 2, -1 / 2], (1, 3): [-11 / 6, 3, -3 / 2, 1 / 3],
        (2, 1): [-1, 2, -1], (2, 2): [2, -5, 4, -1], (3, 1): [-1, 3, -3, 1],
    }
    return np.asarray(kernels[(m, n)], dtype=np.float64)


def _ti_apply(h: np.ndarray, x: np.ndarray) -> np.ndarray:
    """H^T H x for the finite-difference operator h (valid convolution then full)."""
    s = np.convolve(x, h[::-1])
    return np.convolve(s[h.size - 1 : x.size], h)


def _ti_cg(h: np.ndarray, alpha: float, f: np.ndarray) -> np.ndarray:
    """Conjugate gradients for (H^T H + alpha) x = f, as tomopy's ``_ringCGM``."""
    x = np.zeros(f.size)
    r = f.copy()
    w = -r
    z = _ti_apply(h, w) + alpha * w
    a = np.dot(r, w) / np.dot(w, z)
    x = x + a * w
    for _ in range(10 * f.size + 100):
        r = r - a * z
        if np.linalg.norm(r) < 1e-7:
            break
        b = np.dot(r, z) / np.dot(w, z)
        w = -r + b * w
        z = _ti_apply(h, w) + alpha * w
        a = np.dot(r, w) / np.dot(w, z)
        x = x + a * w
    return x


def _ti_ring(sino: np.ndarray, m: int, n: int) -> np.ndarray:
    s = np.nan_to_num(sino.T.astype(np.float64))  # (x, angle)
    alpha = 1.0 / (2.0 * (s.sum(0).max() - s.sum(0).min()))
    h = _ti_kernel(m, n)
    q = _ti_cg(h, alpha, -_ti_apply(h, s.mean(1)))
    return (s + q[:, None]).astype(np.float32).T


def remove_stripe_ti(sino: np.ndarray, alpha: float = 1.5) -> np.ndarray:
    """Titarenko's stripe removal as ``tomopy.remove_stripe_ti`` (``nblock=0``).

    Two regularised finite-difference corrections of the column means are combined as
    ``sqrt(d1 * d2 + alpha * |min(d1 * d2)|)``; note this geometric mean is only meaningful
    for non-negative sinograms.
    """
    s = _sino(sino)
    d1 = _ti_ring(s, 1, 1)
    d2 = _ti_ring(s, 2, 1)
    p = d1 * d2
    return np.sqrt(p + alpha * np.abs(p.min())).astype(np.float32)


def remove_stripes(sino: np.ndarray, method: str, **kwargs: float) -> np.ndarray:
    """Dispatch on ``method`` in :data:`RING_METHODS` (``"none"`` returns the input)."""
    funcs = {"sort": remove_stripe_sort, "large": remove_large_stripe, "all": remove_all_stripe,
             "fw": remove_stripe_fw, "ti": remove_stripe_ti}
    if method == "none":
        return _sino(sino)
    if method not in funcs:
        raise ConfigError(f"rings must be one of {RING_METHODS}, got {method!r}")
    return funcs[method](sino, **kwargs)
