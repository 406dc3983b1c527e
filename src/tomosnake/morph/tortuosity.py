"""Tortuosity factor of one phase from a steady-state diffusion solve (taufactor's definition).

Discretisation (identical to taufactor 1.2's ``Solver``): every voxel of the phase is a
node; face-neighbouring phase voxels are joined by a unit conductance; voxels of the
first and last layer along the transport axis are joined with conductance 2 (half a
voxel) to Dirichlet planes at potentials 0 and 1 on the outer faces of the box; the
four side faces are no-flux. With F the steady flux through the box,
``D_rel = F * N_axis / (N_a * N_b)`` (relative effective diffusivity, D_eff / D) and

    tau = eps / D_rel,

where ``eps`` is the phase's whole volume fraction, isolated clusters and dead ends
included (taufactor's ``VF``). Straight channels give tau = 1 exactly.

Clusters that do not touch both Dirichlet faces carry no flux. taufactor keeps them
in its SOR sweep, where they simply converge to a flux-free field; here they are left
out of the linear system (they would make it singular) but, as in taufactor, they stay
in ``eps``: they add volume without adding transport and so raise tau. The input
volume is never changed. A phase without a face-to-face path has tau = inf,
``percolates = False`` (taufactor prints a warning and reports 0 or inf).

Solvers: CPU: conjugate gradients preconditioned by a multigrid V-cycle
(:mod:`tomosnake.morph.solver`: float32 CSR fine matrix, geometric 2x2x2 first
coarsening, smoothed aggregation below; about 60 bytes per unknown at its peak).
Torch (GPU if available, or CPU): Jacobi-preconditioned CG on a torch sparse CSR matrix
(float64). The flux is read from the dissipated energy ``E(u) = sum g (u_i - u_j)^2``,
which CG minimises, so it converges with the square of the error; iterations stop when
tau changes by less than ``rtol`` (relative) between iterations.

Derived numbers: ``D_eff = D * eps / tau``, MacMullin number ``N_M = tau / eps`` and a
Bruggeman exponent ``alpha`` with ``tau = eps**(1 - alpha)`` fitted over several scans
(:func:`bruggeman_fit`).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import cc3d
import numpy as np

from tomosnake.errors import ConfigError, InputError
from tomosnake.morph.solver import GridLevel, Multigrid, assemble, coarsen, energy, pcg

log = logging.getLogger("tomosnake.morph")
AXES = {"z": 0, "y": 1, "x": 2}
#: keys of :meth:`TortuosityResult.to_dict` that describe the solver, not the material
SOLVER_KEYS = ("converged", "iterations", "seconds", "backend")


@dataclass
class TortuosityResult:
    """Tortuosity factor of one phase along one axis (all numbers dimensionless except D_eff)."""

    axis: str
    tau: float
    eps: float
    eps_percolating: float
    d_rel: float
    d_eff: float
    macmullin: float
    percolates: bool
    converged: bool
    iterations: int
    seconds: float
    backend: str
    flag: str

    def to_dict(self) -> dict:
        """Plain dict (``tau``/``macmullin`` stay ``inf`` for a non-percolating phase)."""
        return asdict(self)

    def science(self) -> dict:
        """The material numbers: tau, eps, eps_percolating, d_rel, macmullin, percolates, flag."""
        keys = ("tau", "eps", "eps_percolating", "d_rel", "macmullin", "percolates", "flag")
        return {k: getattr(self, k) for k in keys}

    def solver(self) -> dict:
        """The solver statistics: converged, iterations, seconds, backend."""
        return {k: getattr(self, k) for k in SOLVER_KEYS}


def percolating_mask(mask: np.ndarray, axis: int = 0) -> np.ndarray:
    """Voxels of ``mask`` in 6-connected components touching both faces normal to ``axis``."""
    lab = cc3d.connected_components(mask, connectivity=6)
    lab = np.moveaxis(lab, axis, 0)
    lo, hi = np.unique(lab[0]), np.unique(lab[-1])
    keep = np.intersect1d(lo[lo > 0], hi[hi > 0])
    lut = np.zeros(int(lab.max()) + 1, dtype=bool)
    lut[keep] = True
    return np.moveaxis(lut[lab], 0, axis)


def _initial_guess(perc: np.ndarray) -> np.ndarray:
    """Linear potential from 0 to 1 along axis 0 (taufactor's start field), float64."""
    nx = perc.shape[0]
    per_plane = perc.reshape(nx, -1).sum(axis=1)
    return np.repeat((np.arange(nx, dtype=np.float64) + 0.5) / nx, per_plane)


def _pcg_torch(a, b, c0, x, rtol, maxiter, to_tau, device):
    import torch

    dev = torch.device(device)
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        at = torch.sparse_csr_tensor(
            torch.from_numpy(a.indptr.astype(np.int64)),
            torch.from_numpy(a.indices.astype(np.int64)),
            torch.from_numpy(a.data),
            size=a.shape,
            dtype=torch.float64,
            device=dev,
        )
    bt = torch.from_numpy(b).to(dev)
    xt = torch.from_numpy(np.ascontiguousarray(x)).to(dev)
    inv_diag = 1.0 / torch.from_numpy(a.diagonal()).to(dev)
    r = bt - at @ xt
    z = inv_diag * r
    p = z.clone()
    rz = torch.dot(r, z)
    tau = to_tau(float(-(bt @ xt) - (xt @ r) + c0))
    for it in range(1, maxiter + 1):
        ap = at @ p
        pap = torch.dot(p, ap)
        if float(pap) <= 0.0:
            return xt.cpu().numpy(), tau, it - 1, True
        alpha = rz / pap
        xt += alpha * p
        r -= alpha * ap
        if it % 10 == 0:  # host sync only every 10 iterations
            tau_old, tau = tau, to_tau(float(-(bt @ xt) - (xt @ r) + c0))
            if abs(tau - tau_old) <= rtol * tau:
                return xt.cpu().numpy(), tau, it, True
        z = inv_diag * r
        rz_new = torch.dot(r, z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return xt.cpu().numpy(), to_tau(float(-(bt @ xt) - (xt @ r) + c0)), maxiter, False


def tortuosity(
    mask: np.ndarray,
    axis: str = "z",
    *,
    diffusivity: float = 1.0,
    backend: str = "cpu",
    device: str | None = None,
    rtol: float = 1e-5,
    maxiter: int = 500,
) -> TortuosityResult:
    """Tortuosity factor of the phase ``mask`` (boolean (z, y, x)) along ``axis``.

    ``backend``: ``"cpu"`` (multigrid-preconditioned CG, scipy/pyamg) or ``"torch"``
    (Jacobi-PCG on ``device``, default CUDA when available, else CPU). ``rtol``: stop
    when tau changes by less than this relative amount in one iteration (10 iterations
    for torch). ``diffusivity`` D (any unit) scales ``d_eff``. A non-percolating phase
    returns ``tau = inf``, ``percolates = False``, ``flag = "non-percolating"``.
    """
    if axis not in AXES:
        raise ConfigError(f"tortuosity axis {axis!r}: expected one of z, y, x")
    if backend not in ("cpu", "torch"):
        raise ConfigError(f"tortuosity backend {backend!r}: expected 'cpu' or 'torch'")
    mask = np.asarray(mask)
    if mask.ndim != 3 or mask.dtype != bool:
        raise InputError(f"tortuosity: expected a boolean 3-D mask, got {mask.dtype} {mask.shape}")
    t0 = time.perf_counter()
    oriented = np.ascontiguousarray(np.moveaxis(mask, AXES[axis], 0))
    eps = float(np.count_nonzero(oriented) / oriented.size)
    perc = percolating_mask(oriented, 0)
    del oriented
    eps_perc = float(np.count_nonzero(perc) / perc.size)
    name = backend if backend == "cpu" else f"torch:{device or _torch_device()}"
    if not perc.any():
        return TortuosityResult(
            axis, math.inf, eps, 0.0, 0.0, 0.0, math.inf, False, True, 0,
            time.perf_counter() - t0, name, "non-percolating",
        )  # fmt: skip
    nx, ny, nz = perc.shape

    def to_tau(energy_: float) -> float:
        return eps / (energy_ * nx / (ny * nz))

    x0 = _initial_guess(perc)
    level = GridLevel(perc)
    if backend == "cpu":
        coarse = coarsen(level)
        system = assemble(level, np.float32, coarse)
        del level
        mg = Multigrid(system, coarse)
        del coarse
        x, _, iters, ok = pcg(system, x0, mg, rtol, maxiter, to_tau)
        del mg, system
        tau = to_tau(energy(perc, x))
    else:
        system = assemble(level, np.float64)
        del perc, level
        _, tau, iters, ok = _pcg_torch(
            system.a, system.b, system.c0, x0, rtol, maxiter * 40, to_tau,
            device or _torch_device(),
        )  # fmt: skip
    d_rel = eps / tau
    seconds = time.perf_counter() - t0
    log.debug("tau along %s = %.5f after %d iterations, %.1f s", axis, tau, iters, seconds)
    return TortuosityResult(
        axis, tau, eps, eps_perc, d_rel, diffusivity * d_rel, tau / eps, True, ok, iters,
        seconds, name, "" if ok else "not-converged",
    )  # fmt: skip


def _torch_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def bruggeman_fit(pairs: Iterable[tuple[float, float]]) -> dict[str, float]:
    """Bruggeman exponent from (eps, tau) pairs of several scans or sub-volumes.

    Fits ``tau = eps**(1 - alpha)`` (i.e. ``D_eff / D = eps**alpha``) by least squares
    in log space, through the origin. Non-percolating pairs (tau = inf) are skipped.
    Returns ``{"alpha", "rms_log_residual", "n"}``; alpha = 1.5 is Bruggeman's spheres.
    """
    data = [(float(e), float(t)) for e, t in pairs if 0 < e < 1 and math.isfinite(t) and t > 0]
    if len(data) < 1:
        raise InputError("bruggeman_fit: need an (eps, tau) pair with 0 < eps < 1 and finite tau")
    le = np.log([e for e, _ in data])
    lt = np.log([t for _, t in data])
    slope = float(le @ lt / (le @ le))
    resid = lt - slope * le
    return {
        "alpha": 1.0 - slope,
        "rms_log_residual": float(np.sqrt(np.mean(resid**2))),
        "n": len(data),
    }
