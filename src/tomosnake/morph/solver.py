"""The linear solver behind :mod:`tomosnake.morph.tortuosity`: a voxel Laplacian and multigrid CG.

The system: every voxel of the (percolating) phase is an unknown; face neighbours are
joined by a conductance (1 between phase voxels); voxels of the first and last layer
along axis 0 (the transport axis) are joined to Dirichlet planes at potentials 0 and 1
with conductance 2 (half a voxel). ``A`` is the graph Laplacian of these conductances
plus the Dirichlet terms on its diagonal, ``b`` holds the last layer's Dirichlet
conductances (potential 1), and the dissipated energy is ``E(u) = u.A.u - 2 b.u + c0``
with ``c0 = sum(b)``.

Memory is what limits the size of volume one node can solve, so the solver keeps one
large matrix, the fine one, in float32 CSR with int32 indices (its entries are small
integers, exact in float32), and nothing of size ``n x k`` beside it:

- Level 0 -> 1: geometric aggregation of 2 x 2 x 2 voxel blocks. The Galerkin operator
  ``T^T A T`` of piecewise-constant aggregation is again a voxel Laplacian, on the coarse
  grid, whose face conductances count the fine faces across each block face; it is
  assembled from the grid (no sparse product), and restriction / prolongation are a
  ``bincount`` / gather over one block index per unknown (no stored ``P``).
- Levels >= 1 (8x fewer unknowns): smoothed aggregation from pyamg's parts (standard
  aggregation, tentative prolongator smoothed once with Gershgorin row sums, Galerkin
  products) in float32; SuperLU on the coarsest level.
- Smoother: one forward Gauss-Seidel sweep before and one backward sweep after each
  coarse correction (a symmetric V-cycle, so the preconditioner suits CG).
- CG keeps the potential ``x`` in float64 and the residual, search direction and
  preconditioner in float32, with every dot product accumulated in float64; tau comes
  from the energy, recomputed from ``x`` in float64 at the end (the energy error is
  quadratic in the error of ``x``).

Matrices are assembled slab by slab along axis 0, so temporaries are a few planes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

#: neighbour offsets in the column order of a CSR row (sorted for C-order numbering)
_OFFSETS = ((-1, 0, 0), (0, -1, 0), (0, 0, -1), (0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0))
_PLANES = 8  # planes per assembly slab
_ROWS = 1 << 20  # rows per chunk in restriction and energy sums


@dataclass
class GridLevel:
    """A voxel Laplacian on a grid: occupied cells, face conductances, Dirichlet terms.

    ``occ`` (bool, (n0, n1, n2)): cells that are unknowns. ``g[k]``: conductance of the
    face between cells ``c`` and ``c + e_k`` (float32, one cell shorter along ``k``), or
    None on the fine level (1 between occupied neighbours). ``dir_lo``/``dir_hi``
    ((n1, n2) float32, or None for 2 per occupied cell): conductance of the first/last
    plane to the Dirichlet planes at potential 0/1.
    """

    occ: np.ndarray
    g: tuple[np.ndarray, ...] | None = None
    dir_lo: np.ndarray | None = None
    dir_hi: np.ndarray | None = None

    def face(self, k: int, lo: int, hi: int) -> np.ndarray:
        """Conductances towards ``+e_k`` of the cells in planes ``lo..hi-1`` (float32).

        Shape (hi - lo, n1, n2); 0 for the last cell along ``k`` and between cells that
        are not both occupied.
        """
        occ = self.occ
        out = np.zeros((hi - lo, *occ.shape[1:]), dtype=np.float32)
        if k == 0:
            top = min(hi, occ.shape[0] - 1)
            if top > lo:
                fine = self.g is None
                out[: top - lo] = occ[lo:top] & occ[lo + 1 : top + 1] if fine else self.g[0][lo:top]
        elif k == 1:
            out[:, :-1] = occ[lo:hi, :-1] & occ[lo:hi, 1:] if self.g is None else self.g[1][lo:hi]
        else:
            out[:, :, :-1] = (
                occ[lo:hi, :, :-1] & occ[lo:hi, :, 1:] if self.g is None else self.g[2][lo:hi]
            )
        return out

    def dirichlet(self, last: bool) -> np.ndarray:
        """Dirichlet conductances of the first (``last=False``) or last plane, (n1, n2)."""
        given = self.dir_hi if last else self.dir_lo
        if given is not None:
            return given
        return 2.0 * self.occ[-1 if last else 0].astype(np.float32)


def _block_sum(a: np.ndarray, axes: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """Sum of ``a`` over blocks of 2 along ``axes`` into a float32 array of ``shape``."""
    out = np.zeros(shape, dtype=np.float32)
    for offs in np.ndindex(*(2,) * len(axes)):
        sl = [slice(None)] * a.ndim
        for ax, o in zip(axes, offs, strict=True):
            sl[ax] = slice(o, None, 2)
        part = a[tuple(sl)]
        out[tuple(slice(0, s) for s in part.shape)] += part
    return out


def coarsen(level: GridLevel) -> GridLevel:
    """Galerkin coarse level ``T^T A T`` of 2 x 2 x 2 block aggregation, as a grid level."""
    occ = level.occ
    cshape = tuple((s + 1) // 2 for s in occ.shape)
    occ_c = np.zeros(cshape, dtype=bool)
    for offs in np.ndindex(2, 2, 2):
        part = occ[offs[0] :: 2, offs[1] :: 2, offs[2] :: 2]
        occ_c[: part.shape[0], : part.shape[1], : part.shape[2]] |= part
    g_c = []
    for k in range(3):
        # the fine faces between planes 2I+1 and 2I+2 along k join coarse cells I and I+1
        if level.g is None:
            moved = np.moveaxis(occ, k, 0)
            cross = moved[1:-1:2] & moved[2::2]
        else:
            cross = np.moveaxis(level.g[k], k, 0)[1::2]
        rest = tuple(c for i, c in enumerate(cshape) if i != k)
        summed = _block_sum(cross, (1, 2), (cross.shape[0], *rest))
        g_c.append(np.ascontiguousarray(np.moveaxis(summed, 0, k)))
        del cross, summed
    dir_lo = _block_sum(level.dirichlet(False), (0, 1), cshape[1:])
    dir_hi = _block_sum(level.dirichlet(True), (0, 1), cshape[1:])
    return GridLevel(occ_c, tuple(g_c), dir_lo, dir_hi)


@dataclass
class System:
    """Assembled level: ``a`` (CSR), the right-hand side as its nonzeros ``b_index`` and
    ``b_value`` (the last layer), ``c0`` (energy constant) and ``agg`` (coarse cell of
    each unknown, when a coarse level was given)."""

    a: sp.csr_matrix
    b_index: np.ndarray
    b_value: np.ndarray
    c0: float
    agg: np.ndarray | None

    @property
    def b(self) -> np.ndarray:
        """The dense right-hand side (float64)."""
        out = np.zeros(self.a.shape[0])
        out[self.b_index] = self.b_value
        return out

    def b_dot(self, x: np.ndarray) -> float:
        """``b . x`` in float64."""
        return float(self.b_value @ x[self.b_index])


def _numbering(occ: np.ndarray) -> np.ndarray:
    """Unknowns before each plane along axis 0 (int64, length n0 + 1)."""
    return np.concatenate(([0], np.cumsum(occ.reshape(occ.shape[0], -1).sum(axis=1))))


def _count_faces(level: GridLevel) -> int:
    """Number of faces with a nonzero conductance between occupied cells."""
    occ, n0 = level.occ, level.occ.shape[0]
    if level.g is not None:
        return sum(int(np.count_nonzero(g)) for g in level.g)
    total = 0
    for s in range(0, n0, 4 * _PLANES):
        e = min(s + 4 * _PLANES, n0)
        c = occ[s:e]
        total += int(np.count_nonzero(c[:, :-1] & c[:, 1:]))
        total += int(np.count_nonzero(c[:, :, :-1] & c[:, :, 1:]))
        top = min(e, n0 - 1)
        if top > s:
            total += int(np.count_nonzero(occ[s:top] & occ[s + 1 : top + 1]))
    return total


def assemble(level: GridLevel, dtype=np.float32, coarse: GridLevel | None = None) -> System:
    """CSR system of a grid level, rows in C order of the occupied cells, slab by slab.

    With ``coarse`` (its :func:`coarsen`), also the coarse cell of every unknown (``agg``).
    """
    occ = level.occ
    n0, n1, n2 = occ.shape
    before = _numbering(occ)
    n = int(before[-1])
    nnz = n + 2 * _count_faces(level)
    if nnz >= 2**31 - 1:
        raise ValueError(f"{nnz} matrix entries do not fit int32 indices")
    indptr = np.zeros(n + 1, dtype=np.int32)
    indices = np.empty(nnz, dtype=np.int32)
    data = np.empty(nnz, dtype=dtype)
    b_index, b_value = [], []
    agg = cnum = None
    if coarse is not None:
        cnum = np.full(coarse.occ.shape, -1, dtype=np.int32)
        cnum[coarse.occ] = np.arange(int(coarse.occ.sum()), dtype=np.int32)
        agg = np.empty(n, dtype=np.int32)
    pos = 0
    for s in range(0, n0, _PLANES):
        e = min(s + _PLANES, n0)
        lo, hi = max(s - 1, 0), min(e + 1, n0)
        shape = (hi - lo + 2, n1 + 2, n2 + 2)
        st0, st1 = shape[1] * shape[2], shape[2]
        inner = (slice(1, -1), slice(1, -1), slice(1, -1))
        idxp = np.full(shape, -1, dtype=np.int32)
        idxp[inner][occ[lo:hi]] = np.arange(before[lo], before[hi], dtype=np.int32)
        core = np.zeros(shape, dtype=bool)
        core[s - lo + 1 : e - lo + 1, 1:-1, 1:-1] = occ[s:e]
        at = np.flatnonzero(core)  # C order: the row order
        del core
        offsets = np.array([d0 * st0 + d1 * st1 + d2 for d0, d1, d2 in _OFFSETS])
        cols = idxp.ravel()[at[:, None] + offsets]
        del idxp
        if level.g is None:
            vals = (cols >= 0).astype(np.float32)
        else:
            vals = np.zeros(cols.shape, dtype=np.float32)
            for k, (minus, plus, step) in enumerate(((0, 6, st0), (1, 5, st1), (2, 4, 1))):
                gp = np.zeros(shape, dtype=np.float32)
                gp[inner] = level.face(k, lo, hi)
                vals[:, plus] = gp.ravel()[at]
                vals[:, minus] = gp.ravel()[at - step]
        vals[:, 3] = 0.0
        diag = vals.sum(axis=1)
        if s == 0 or e == n0:
            dp = np.zeros(shape, dtype=np.float32)
            if e == n0:
                dp[n0 - lo] = np.pad(level.dirichlet(True), 1)
                top = dp.ravel()[at]
                hit = np.flatnonzero(top)
                b_index.append(before[s] + hit)
                b_value.append(top[hit].astype(np.float64))
            if s == 0:
                dp[1] += np.pad(level.dirichlet(False), 1)
            diag += dp.ravel()[at]
        valid = vals > 0
        valid[:, 3] = True
        vals *= -1
        vals[:, 3] = diag
        counts = valid.sum(axis=1)
        indptr[before[s] + 1 : before[e] + 1] = pos + np.cumsum(counts)
        k = int(counts.sum())
        indices[pos : pos + k] = cols[valid]
        data[pos : pos + k] = vals[valid]
        pos += k
        if cnum is not None:
            zz, rest = np.divmod(at, st0)
            yy, xx = np.divmod(rest, st1)
            agg[before[s] : before[e]] = cnum[(zz - 1 + lo) // 2, (yy - 1) // 2, (xx - 1) // 2]
    if pos != nnz:
        raise AssertionError(f"assembled {pos} entries, expected {nnz}")
    a = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    a.has_sorted_indices = True
    b_value = np.concatenate(b_value) if b_value else np.zeros(0)
    b_index = np.concatenate(b_index) if b_index else np.zeros(0, dtype=np.int64)
    return System(a, b_index, b_value, float(b_value.sum()), agg)


def _smoothed_aggregation(a: sp.csr_matrix, max_coarse: int, omega: float = 4.0 / 3.0):
    """Levels (A, P) below ``a`` by smoothed aggregation (float32 CSR)."""
    from pyamg.aggregation.aggregate import standard_aggregation

    out = []
    while a.shape[0] > max_coarse:
        t = standard_aggregation(a)[0].tocsr().astype(np.float32)
        if t.shape[1] >= a.shape[0]:
            break
        gersh = np.add.reduceat(np.abs(a.data), a.indptr[:-1]).astype(np.float32)
        p = (t - sp.diags(omega / gersh) @ (a @ t)).tocsr().astype(np.float32)
        del t
        ac = (p.T @ (a @ p)).tocsr().astype(np.float32)
        out.append((a, p))
        a = ac
    out.append((a, None))
    return out


class Multigrid:
    """Symmetric V-cycle preconditioner: geometric first coarsening, then smoothed aggregation.

    ``fine``: the assembled fine system (with ``agg``), ``coarse``: its coarse grid level.
    Call it on a float32 residual; returns a float32 correction.
    """

    def __init__(self, fine: System, coarse: GridLevel, max_coarse: int = 1000):
        from scipy.sparse.linalg import splu

        self.a0, self.agg = fine.a, fine.agg
        a1 = assemble(coarse, np.float32).a
        self.nc = a1.shape[0]
        self.levels = _smoothed_aggregation(a1, max_coarse)
        self.lu = splu(self.levels[-1][0].astype(np.float64).tocsc())

    def _restrict(self, r: np.ndarray) -> np.ndarray:
        out = np.zeros(self.nc, dtype=np.float64)
        for i in range(0, r.size, _ROWS):
            out += np.bincount(self.agg[i : i + _ROWS], r[i : i + _ROWS], minlength=self.nc)
        return out.astype(np.float32)

    @staticmethod
    def _relax(a: sp.csr_matrix, x: np.ndarray, b: np.ndarray, forward: bool) -> None:
        from pyamg import amg_core

        n = a.shape[0]
        if forward:
            amg_core.gauss_seidel(a.indptr, a.indices, a.data, x, b, 0, n, 1)
        else:
            amg_core.gauss_seidel(a.indptr, a.indices, a.data, x, b, n - 1, -1, -1)

    def _cycle(self, a: sp.csr_matrix, b: np.ndarray, k: int) -> np.ndarray:
        """One V-cycle on level ``k`` (0: fine, ``k >= 1``: ``levels[k - 1]``) from x = 0."""
        p = self.levels[k - 1][1] if k else None
        if k and p is None:
            return self.lu.solve(b.astype(np.float64)).astype(np.float32)
        x = np.zeros_like(b)
        self._relax(a, x, b, True)
        r = b - a @ x
        if k == 0:
            xc = self._cycle(self.levels[0][0], self._restrict(r), 1)
            del r
            x += xc[self.agg]
        else:
            xc = self._cycle(self.levels[k][0], p.T @ r, k + 1)
            del r
            x += p @ xc
        self._relax(a, x, b, False)
        return x

    def __call__(self, r: np.ndarray) -> np.ndarray:
        return self._cycle(self.a0, np.asarray(r, dtype=np.float32), 0)


def dot(u: np.ndarray, v: np.ndarray) -> float:
    """``u . v``, summed over chunks in float64 (a float64 operand makes the chunks float64)."""
    if u.dtype != v.dtype:
        u, v = (u, v) if u.dtype == np.float64 else (v, u)
        chunks = range(0, u.size, _ROWS)
        return float(sum(u[i : i + _ROWS] @ v[i : i + _ROWS].astype(np.float64) for i in chunks))
    return float(sum(float(u[i : i + _ROWS] @ v[i : i + _ROWS]) for i in range(0, u.size, _ROWS)))


def axpy(y: np.ndarray, alpha: float, x: np.ndarray) -> None:
    """``y += alpha * x`` in place, chunk by chunk."""
    for i in range(0, y.size, _ROWS):
        y[i : i + _ROWS] += alpha * x[i : i + _ROWS]


def energy(occ: np.ndarray, x: np.ndarray) -> float:
    """Dissipated energy of the potential ``x`` on the fine level of ``occ``, in float64.

    ``sum (x_i - x_j)^2`` over faces between unknowns, plus ``2 x^2`` on the first and
    ``2 (x - 1)^2`` on the last plane along axis 0: a sum of positive terms, free of the
    cancellation in ``x.A.x - 2 b.x + c0``. Computed slab by slab on the grid.
    """
    before = _numbering(occ)
    n0 = occ.shape[0]
    total = 0.0
    for s in range(0, n0, 4 * _PLANES):
        e = min(s + 4 * _PLANES + 1, n0)  # one plane of overlap for the faces along axis 0
        u = np.zeros(occ[s:e].shape, dtype=np.float64)
        u[occ[s:e]] = x[before[s] : before[e]]
        o = occ[s:e]
        core = min(4 * _PLANES, e - s)  # faces along axis 0 leaving planes s..s+core-1
        d0 = (u[1:] - u[:-1])[:core][(o[1:] & o[:-1])[:core]]
        d1 = (u[:core, 1:] - u[:core, :-1])[(o[:core, 1:] & o[:core, :-1])]
        d2 = (u[:core, :, 1:] - u[:core, :, :-1])[(o[:core, :, 1:] & o[:core, :, :-1])]
        total += float(d0 @ d0 + d1 @ d1 + d2 @ d2)
        if s == 0:
            total += 2.0 * float(u[0][o[0]] @ u[0][o[0]])
        if e == n0 and s + core >= n0:
            last = u[-1][o[-1]] - 1.0
            total += 2.0 * float(last @ last)
    return total


def pcg(
    system: System,
    x: np.ndarray,
    precond: Callable[[np.ndarray], np.ndarray],
    rtol: float,
    maxiter: int,
    to_tau: Callable[[float], float],
) -> tuple[np.ndarray, float, int, bool]:
    """Preconditioned CG from ``x`` (float64, changed in place) until tau settles.

    Stops when tau (from the energy ``-(b.x) - (x.r) + c0``) changes by less than
    ``rtol`` relative in one iteration. Returns (x, tau, iterations, converged).
    """
    a, c0 = system.a, system.c0
    r = -(a @ x.astype(np.float32))
    r[system.b_index] += system.b_value
    z = precond(r)
    p = z.copy()
    rz = dot(r, z)
    tau = to_tau(-system.b_dot(x) - dot(x, r) + c0)
    for it in range(1, maxiter + 1):
        ap = a @ p
        pap = dot(p, ap)
        if pap <= 0.0:  # the start field is already the solution (e.g. straight channels)
            return x, tau, it - 1, True
        alpha = rz / pap
        axpy(x, alpha, p)
        axpy(r, -alpha, ap)
        del ap
        tau_old, tau = tau, to_tau(-system.b_dot(x) - dot(x, r) + c0)
        if abs(tau - tau_old) <= rtol * tau:
            return x, tau, it, True
        z = precond(r)
        rz_new = dot(r, z)
        p *= rz_new / rz
        p += z
        del z
        rz = rz_new
        if not math.isfinite(tau):
            break
    return x, tau, maxiter, False
