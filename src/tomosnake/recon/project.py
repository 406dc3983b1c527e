"""Parallel-beam projection matrix (Siddon ray tracing) and the forward projector.

The system matrix ``A`` maps an ``n`` x ``n`` slice (flattened row-major) to the
line integrals of every ray (angle-major, then detector column): entry
``A[ray, pixel]`` is the length (in pixel units) of the ray's path inside the
pixel, as in tomopy's ``project`` and ``fbp``. It is the same for every slice,
so it is built once and applied to whole stacks of slices.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import scipy.sparse

from tomosnake.errors import ConfigError, InputError
from tomosnake.recon.backend import Backend
from tomosnake.recon.geometry import centers_per_slice

_RAYS_PER_BLOCK = 512
_MAX_CACHED_ENTRIES = 40_000_000  # matrices up to ~0.5 GB are kept for reuse


def _siddon_block(
    sin_t: np.ndarray, cos_t: np.ndarray, s: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray-pixel intersections of rays ``x cos + y sin = s`` through an n x n grid.

    Returns (ray index within the block, flat pixel index, length).
    """
    grid = np.arange(n + 1, dtype=np.float64) - n / 2.0
    px, py = s * cos_t, s * sin_t  # foot point of each ray; direction (-sin, cos)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam_x = (px[:, None] - grid[None, :]) / sin_t[:, None]  # crossings of x = const
        lam_y = (grid[None, :] - py[:, None]) / cos_t[:, None]  # crossings of y = const
    lam = np.concatenate([lam_x, lam_y], axis=1)
    lam[~np.isfinite(lam)] = np.nan
    lam.sort(axis=1)  # NaNs go last
    seg = np.diff(lam, axis=1)
    mid = 0.5 * (lam[:, 1:] + lam[:, :-1])
    x = px[:, None] - mid * sin_t[:, None]
    y = py[:, None] + mid * cos_t[:, None]
    col = np.floor(x + n / 2.0)
    row = np.floor(n / 2.0 - y)
    ok = (seg > 1e-9) & (col >= 0) & (col < n) & (row >= 0) & (row < n)
    ray = np.nonzero(ok)[0]
    pix = (row[ok] * n + col[ok]).astype(np.int64)
    return ray, pix, seg[ok]


def projection_matrix(
    theta: np.ndarray, n: int, n_det: int, center: float
) -> scipy.sparse.csr_matrix:
    """Siddon system matrix, shape (n_angles * n_det, n * n), float32.

    Args:
        theta: angles in radians.
        n: slice size in pixels (the slice is n x n, centred on the rotation axis).
        n_det: number of detector columns.
        center: rotation axis position on the detector (tomopy convention).
    """
    theta = np.asarray(theta, dtype=np.float64).ravel()
    t_all = np.repeat(theta, n_det)
    s_all = np.tile(np.arange(n_det) + 0.5 - center, theta.size)
    rows, cols, vals = [], [], []
    for start in range(0, t_all.size, _RAYS_PER_BLOCK):
        t = t_all[start : start + _RAYS_PER_BLOCK]
        s = s_all[start : start + _RAYS_PER_BLOCK]
        ray, pix, length = _siddon_block(np.sin(t), np.cos(t), s, n)
        rows.append(ray + start)
        cols.append(pix)
        vals.append(length.astype(np.float32))
    coo = scipy.sparse.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(t_all.size, n * n),
    )
    return coo.tocsr()


def _estimated_entries(n_angles: int, n: int, n_det: int) -> int:
    return int(n_angles * min(n_det, 1.5 * n) * 1.5 * n)


@functools.lru_cache(maxsize=2)
def _cached_matrix(theta_bytes: bytes, n: int, n_det: int, center: float) -> Any:
    return projection_matrix(np.frombuffer(theta_bytes, dtype=np.float64), n, n_det, center)


def angle_blocks(theta: np.ndarray, n: int, n_det: int) -> list[slice]:
    """Blocks of angles whose matrices stay below the cache size limit."""
    per_angle = max(1, _estimated_entries(1, n, n_det))
    step = max(1, _MAX_CACHED_ENTRIES // per_angle)
    return [slice(i, i + step) for i in range(0, len(theta), step)]


def system_matrix(theta: np.ndarray, n: int, n_det: int, center: float) -> Any:
    """:func:`projection_matrix` for one block of angles, cached for reuse across slabs."""
    th = np.ascontiguousarray(theta, dtype=np.float64)
    return _cached_matrix(th.tobytes(), n, n_det, float(center))


def backproject(be: Backend, sino: Any, theta: np.ndarray, center: float, n: int) -> Any:
    """Transpose of the Siddon projector: (angle, z, n_det) -> (z, n, n), no scaling.

    Each pixel gets the sum over rays of (path length in the pixel) x (ray value),
    tomopy's ``fbp`` back-projection.
    """
    xp = be.xp
    n_ang, nz, n_det = sino.shape
    out = xp.zeros((n * n, nz), dtype=xp.float32)
    for blk in angle_blocks(theta, n, n_det):
        a = to_backend(be, system_matrix(theta[blk], n, n_det, center))
        rays = xp.ascontiguousarray(sino[blk].transpose(0, 2, 1)).reshape(-1, nz)
        out += a.T @ rays
    return xp.ascontiguousarray(out.T).reshape(nz, n, n)


def to_backend(be: Backend, a: scipy.sparse.csr_matrix) -> Any:
    """A SciPy CSR matrix on ``be``'s device."""
    if be.device == "cpu":
        return a
    return be.sparse.csr_matrix(
        (be.asarray(a.data), be.asarray(a.indices), be.asarray(a.indptr)), shape=a.shape
    )


def forward_project(
    volume: np.ndarray,
    theta: np.ndarray,
    center: float | np.ndarray | None = None,
    n_det: int | None = None,
) -> np.ndarray:
    """Parallel-beam line integrals of a volume, like ``tomopy.project``.

    Args:
        volume: (z, y, x) attenuation per voxel length; y and x must be equal.
        theta: projection angles in radians.
        center: rotation axis on the detector in tomopy's convention (column j spans
            [j, j+1)); default ``n_det / 2``. A float or one value per slice. The volume
            is centred on the axis.
        n_det: detector columns; default the volume width (may be larger).

    Returns:
        float32 (angle, z, n_det) line integrals in units of voxel lengths.
    """
    vol = np.asarray(volume, dtype=np.float32)
    if vol.ndim == 2:
        vol = vol[None]
    if vol.ndim != 3 or vol.shape[1] != vol.shape[2]:
        raise InputError(f"volume must be (z, n, n) with square slices, got shape {vol.shape}")
    nz, n, _ = vol.shape
    n_det = n if n_det is None else int(n_det)
    if n_det < 1:
        raise ConfigError(f"n_det must be positive, got {n_det}")
    theta = np.asarray(theta, dtype=np.float64).ravel()
    centers = centers_per_slice(center, nz, n_det)
    out = np.empty((theta.size, nz, n_det), dtype=np.float32)
    for c in np.unique(centers):
        sel = np.nonzero(centers == c)[0]
        flat = np.ascontiguousarray(vol[sel].reshape(sel.size, -1).T)
        for blk in angle_blocks(theta, n, n_det):
            a = system_matrix(theta[blk], n, n_det, float(c))
            rays = np.asarray(a @ flat).reshape(-1, n_det, sel.size)
            out[blk, sel, :] = rays.transpose(0, 2, 1)
    return out
