"""``reconstruct``: one entry point for every algorithm, on the CPU or a GPU."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from tomosnake.errors import ConfigError
from tomosnake.recon.backend import Backend, get_backend
from tomosnake.recon.fbp import fbp
from tomosnake.recon.filters import DEFAULT_FILTER_PAR, check_filter
from tomosnake.recon.geometry import centers_per_slice, check_projections, shift_rows
from tomosnake.recon.gridrec import grid_size, gridrec
from tomosnake.recon.iterative import cgls, sirt

ALGORITHMS = ("gridrec", "fbp", "sirt", "cgls")
_SLICES_PER_TASK = 16  # slices per work item: bounds temporary memory, feeds the threads
#: gridrec's Fourier grids (about three complex64 copies per slice pair) per work item
_GRID_BYTES = 1 << 30


def _run(be: Backend, algorithm: str, p: Any, th: np.ndarray, c: Any, filter_name: str,
         options: dict[str, Any]) -> Any:
    if algorithm == "gridrec":
        return gridrec(be, p, th, c, filter_name, options.get("filter_par", DEFAULT_FILTER_PAR),
                       bool(options.get("tomopy_exact", False)))
    if algorithm == "fbp":
        return fbp(be, p, th, c, filter_name, options.get("filter_par", DEFAULT_FILTER_PAR))
    if algorithm == "sirt":
        return sirt(be, p, th, c, int(options.get("num_iter", 200)),
                    bool(options.get("nonnegative", True)))
    return cgls(be, p, th, c, int(options.get("num_iter", 20)))


def reconstruct(
    proj: np.ndarray,
    theta: np.ndarray,
    center: float | np.ndarray | None = None,
    algorithm: str = "gridrec",
    filter_name: str = "shepp",
    device: str = "auto",
    **options: Any,
) -> np.ndarray:
    """Reconstruct slices from parallel-beam line integrals (tomopy's conventions).

    Args:
        proj: (angle, z, x) line integrals (-log of normalised transmission).
        theta: angles in radians, one per projection.
        center: rotation axis in detector columns (column j spans [j, j+1)); a float or
            one value per slice (a tilted axis); default the detector middle ``x / 2``.
            Per-slice centres keep the batched speed: gridrec applies each slice's centre as
            a phase on its spectrum (exact); the other algorithms first shift every row onto
            the median centre (:func:`~tomosnake.recon.geometry.shift_rows`, a Fourier shift;
            fbp: RMSE against a phantom within 3 % of each slice's own-centre fbp, tested).
        algorithm: "gridrec" (Fourier gridding, tomopy's), "fbp" (filtered
            back-projection; with filter "none" tomopy's unfiltered fbp), "sirt" or "cgls"
            (iterative, for few angles; the filter is ignored).
        filter_name: tomopy filter name (see ``tomosnake.recon.filters.FILTERS``).
        device: "auto" (GPU if CuPy finds one), "cpu" or "cuda" (falls back to the CPU
            with a RuntimeWarning when no GPU is usable).
        **options: ``filter_par`` (tomopy's, default [0.5, 8]); ``num_iter`` (sirt 200,
            cgls 20); ``nonnegative`` (sirt, default True); ``threads`` (slice chunks
            reconstructed in parallel on the CPU, default 1: the FFTs already use every
            core, and on 2 cores chunk threads were slower); ``tomopy_exact`` (gridrec:
            default False pads rows and uses forward_project's geometry; True reproduces
            tomopy's gridrec to float precision, see :func:`tomosnake.recon.gridrec.gridrec`).

    Returns:
        float32 (z, n, n) attenuation per pixel length, n = number of detector columns,
        the slice centred on the rotation axis; row 0 is the +y edge, x grows with the
        column index (tomopy's orientation).
    """
    p, th = check_projections(proj, theta)
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    check_filter(filter_name)
    unknown = set(options) - {"filter_par", "num_iter", "nonnegative", "threads", "tomopy_exact"}
    if unknown:
        raise ConfigError(f"unknown reconstruction options: {', '.join(sorted(unknown))}")
    be = get_backend(device)
    n_ang, nz, n_det = p.shape
    centers = centers_per_slice(center, nz, n_det)
    out = np.empty((nz, n_det, n_det), dtype=np.float32)
    if algorithm != "gridrec" and np.unique(centers).size > 1:
        # one centre for all rows: each row is shifted onto it (see shift_rows)
        common = float(np.median(centers))
        p = shift_rows(p, common - centers)
        centers = np.full(nz, common)
    step = _SLICES_PER_TASK if algorithm in ("gridrec", "fbp") else nz
    if algorithm == "gridrec":  # 2048 columns: a 4096^2 grid per pair, 4 slices per task
        pdim = 2 * grid_size(n_det)
        step = max(2, min(step, 2 * (_GRID_BYTES // (3 * 8 * pdim * pdim))))
    tasks = [np.arange(i, min(i + step, nz)) for i in range(0, nz, step)]

    def work(idx: np.ndarray) -> None:
        c = centers[idx] if algorithm == "gridrec" else float(centers[idx[0]])
        rec = _run(be, algorithm, be.asarray(p[:, idx]), th, c, filter_name, options)
        out[idx] = be.to_numpy(rec)

    threads = int(options.get("threads", 1)) if be.device == "cpu" else 1
    if threads > 1 and len(tasks) > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, tasks))
    else:
        for task in tasks:
            work(task)
    return out
