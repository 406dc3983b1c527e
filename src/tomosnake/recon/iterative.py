"""Iterative reconstruction for few-angle data: SIRT and CGLS on the Siddon system matrix.

Both solve ``A x = b`` for all slices of one rotation centre at once (slices are
the columns of ``x`` and ``b``); ``A`` is :func:`tomosnake.recon.project.projection_matrix`,
so results are on the same scale (attenuation per pixel length) and orientation as
gridrec. They run on NumPy/SciPy or CuPy/cupyx alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse

from tomosnake.recon.backend import Backend
from tomosnake.recon.project import angle_blocks, system_matrix, to_backend


def _full_matrix(be: Backend, theta: np.ndarray, n: int, n_det: int, center: float) -> Any:
    blocks = [system_matrix(theta[b], n, n_det, center) for b in angle_blocks(theta, n, n_det)]
    a = blocks[0] if len(blocks) == 1 else scipy.sparse.vstack(blocks, format="csr")
    return to_backend(be, a)


def _rhs(be: Backend, proj: Any) -> Any:
    n_ang, nz, n_det = proj.shape
    return be.xp.ascontiguousarray(proj.transpose(0, 2, 1)).reshape(-1, nz)


def _slices(be: Backend, x: Any, n: int) -> Any:
    return be.xp.ascontiguousarray(x.T).reshape(-1, n, n)


def sirt(
    be: Backend, proj: Any, theta: np.ndarray, center: float, num_iter: int = 200,
    nonnegative: bool = True,
) -> Any:
    """SIRT: ``x += C A^T R (b - A x)`` with R, C the inverse row/column sums of A.

    Args:
        proj: (angle, z, n_det) line integrals on ``be``'s device.
        num_iter: iterations.
        nonnegative: clip negative attenuation after each iteration.

    Returns:
        (z, n_det, n_det) float32.
    """
    xp = be.xp
    n_det = proj.shape[-1]
    a = _full_matrix(be, theta, n_det, n_det, center)
    b = _rhs(be, proj)
    ones_c = xp.ones((a.shape[1], 1), dtype=xp.float32)
    ones_r = xp.ones((a.shape[0], 1), dtype=xp.float32)
    row = a @ ones_c
    col = a.T @ ones_r
    r = xp.where(row > 0, 1.0 / xp.maximum(row, 1e-12), 0.0).astype(xp.float32)
    c = xp.where(col > 0, 1.0 / xp.maximum(col, 1e-12), 0.0).astype(xp.float32)
    x = xp.zeros((a.shape[1], b.shape[1]), dtype=xp.float32)
    for _ in range(num_iter):
        x += c * (a.T @ (r * (b - a @ x)))
        if nonnegative:
            xp.maximum(x, 0, out=x)
    return _slices(be, x, n_det)


def cgls(be: Backend, proj: Any, theta: np.ndarray, center: float, num_iter: int = 20) -> Any:
    """CGLS (conjugate gradients on the normal equations), each slice independently.

    Early stopping (``num_iter``, default 20) regularises.

    Returns:
        (z, n_det, n_det) float32.
    """
    xp = be.xp
    n_det = proj.shape[-1]
    a = _full_matrix(be, theta, n_det, n_det, center)
    b = _rhs(be, proj)
    x = xp.zeros((a.shape[1], b.shape[1]), dtype=xp.float32)
    r = b.astype(xp.float32, copy=True)
    s = a.T @ r
    p = s.copy()
    gamma = xp.sum(s * s, axis=0)
    for _ in range(num_iter):
        q = a @ p
        alpha = gamma / xp.maximum(xp.sum(q * q, axis=0), 1e-30)
        x += alpha * p
        r -= alpha * q
        s = a.T @ r
        gamma_new = xp.sum(s * s, axis=0)
        p = s + (gamma_new / xp.maximum(gamma, 1e-30)) * p
        gamma = gamma_new
    return _slices(be, x, n_det)
