"""Parallel-beam geometry in tomopy's convention.

Detector column ``j`` spans ``[j, j+1)``; the rotation axis sits at detector
coordinate ``center`` (tomopy's default: ``n_det / 2``, the middle of the
detector). A reconstructed slice of ``n`` x ``n`` pixels is centred on the axis:
pixel (row ``r``, column ``q``) covers ``x`` in ``[q - n/2, q + 1 - n/2]`` and
``y`` in ``[n/2 - r - 1, n/2 - r]`` (``y`` points to smaller rows), and the ray of
column ``j`` at angle ``theta`` is ``x cos(theta) + y sin(theta) = j + 0.5 - center``.
This is the geometry of tomopy's ``project`` and ``fbp`` (Siddon ray tracing) and of
every algorithm here by default. tomopy's gridrec places column j's centre at ``j``
and pixel q's centre at ``q - n/2`` instead (half a pixel off at angles other than 0);
``reconstruct(..., tomopy_exact=True)`` reproduces that.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from tomosnake import threads
from tomosnake.errors import ConfigError, InputError


def centers_per_slice(center: float | np.ndarray | None, n_slices: int, n_det: int) -> np.ndarray:
    """Rotation centre of every slice (float64, shape (n_slices,)); None -> ``n_det / 2``."""
    if center is None:
        return np.full(n_slices, n_det / 2.0)
    c = np.asarray(center, dtype=np.float64)
    if c.ndim == 0:
        c = np.full(n_slices, float(c))
    if c.shape != (n_slices,):
        raise ConfigError(
            f"center must be a number or one value per slice ({n_slices}), got shape {c.shape}"
        )
    if not np.all(np.isfinite(c)):
        raise ConfigError("center holds NaN or infinite values")
    return c


def check_projections(proj: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check (angle, z, x) line integrals and their angles; return float32 proj, float64 theta."""
    p = np.asarray(proj)
    if p.ndim == 2:
        p = p[:, None, :]
    if p.ndim != 3:
        raise InputError(f"projections must be 3-D (angle, z, x), got shape {p.shape}")
    if not (np.issubdtype(p.dtype, np.floating) or np.issubdtype(p.dtype, np.integer)):
        raise InputError(f"projections must be real numbers, got dtype {p.dtype}")
    th = np.asarray(theta, dtype=np.float64).ravel()
    if th.size != p.shape[0]:
        raise InputError(f"{th.size} angles but {p.shape[0]} projections (axis 0 of proj)")
    if min(p.shape) == 0:
        raise InputError(f"projections are empty: shape {p.shape}")
    if not np.all(np.isfinite(th)):
        raise InputError("theta holds NaN or infinite angles")
    p = p.astype(np.float32, copy=False)
    if not np.all(np.isfinite(p)):
        raise InputError("projections hold NaN or infinite values (normalise and take -log first)")
    return p, th


def shift_rows(proj: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Move each row's content by ``shifts[z]`` columns (angle, z, x) -> new float32 array.

    ``out[:, z, u] = proj[:, z, u - shifts[z]]``: a sinogram whose axis is at ``c`` has it
    at ``c + shifts[z]`` afterwards. A Fourier shift (exact for band-limited rows) on rows
    edge-padded to twice their length, so nothing wraps around; rows with a zero shift are
    copied unchanged.
    """
    p = np.asarray(proj, dtype=np.float32)
    s = np.asarray(shifts, dtype=np.float64)
    out = p.copy()
    n = p.shape[-1]
    pad = n // 2 + 1
    m = int(2 ** np.ceil(np.log2(n + 2 * pad)))
    freq = np.fft.rfftfreq(m)
    for z in np.flatnonzero(s):
        wide = np.pad(p[:, z, :], ((0, 0), (pad, m - n - pad)), mode="edge")
        spec = scipy.fft.rfft(wide, axis=-1, workers=threads.current())
        spec *= np.exp(-2j * np.pi * freq * s[z])
        back = scipy.fft.irfft(spec, n=m, axis=-1, workers=threads.current())
        out[:, z, :] = back[:, pad : pad + n]
    return out
