"""Quality numbers a scientist checks before trusting a scan (findings on them: ``findings``).

All grey-value statistics are in the reconstruction's units (attenuation per
voxel as reconstructed); lengths in micrometres; volumes (z, y, x).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from skimage.restoration import estimate_sigma

from tomosnake.io import volume_attrs
from tomosnake.viz.inputs import find_qc, phases_of, plane_stride, sample_planes, z_slabs


def phase_stats(recon: Any, labels: Any, phases: Mapping[str, int], n_planes: int = 12) -> dict:
    """Grey-value mean and std per phase, and the contrast-to-noise ratio of neighbours.

    Computed on up to ``n_planes`` evenly spaced z-planes. Phases are ordered by mean
    grey value; ``cnr`` maps "a/b" to (mean_b - mean_a) / sqrt((var_a + var_b) / 2).
    """
    grey = sample_planes(recon, n_planes).astype(np.float64)
    lab = sample_planes(labels, n_planes)
    stats: dict[str, dict[str, float]] = {}
    for name, code in phases.items():
        values = grey[lab == code]
        if values.size:
            stats[name] = {"mean": float(values.mean()), "std": float(values.std())}
    order = sorted(stats, key=lambda n: stats[n]["mean"])
    cnr = {}
    for a, b in zip(order, order[1:], strict=False):
        pooled = np.sqrt((stats[a]["std"] ** 2 + stats[b]["std"] ** 2) / 2)
        cnr[f"{a}/{b}"] = float((stats[b]["mean"] - stats[a]["mean"]) / pooled) if pooled else None
    return {"phase_grey": stats, "cnr": cnr}


def fractions_along_z(
    labels: Any, phases: Mapping[str, int], max_plane_voxels: int = 2**20
) -> dict[str, np.ndarray]:
    """Volume fraction of each phase in every z-plane (phase name -> (z,) array), slab-wise.

    Planes larger than ``max_plane_voxels`` are sampled on a regular (y, x) grid.
    """
    nz, ny, nx = labels.shape
    step = plane_stride(labels.shape, 1, max_plane_voxels)
    n = len(range(0, ny, step)) * len(range(0, nx, step))
    out = {name: np.zeros(nz) for name in phases}
    for z0, z1 in z_slabs(nz, n, budget_bytes=64 * 2**20):
        slab = np.asarray(labels[z0:z1, ::step, ::step])
        for name, code in phases.items():
            out[name][z0:z1] = np.count_nonzero(slab == code, axis=(1, 2)) / n
    return out


def noise_sigma(recon: Any, max_side: int = 1024) -> float:
    """Gaussian noise level of the middle z-plane (wavelet MAD estimate, grey units).

    A central crop of at most ``max_side`` x ``max_side`` voxels is used.
    """
    _, ny, nx = recon.shape
    y0, x0 = max(0, (ny - max_side) // 2), max(0, (nx - max_side) // 2)
    plane = recon[recon.shape[0] // 2, y0 : y0 + max_side, x0 : x0 + max_side]
    return float(estimate_sigma(np.asarray(plane, dtype=np.float64)))


def scan_qc(
    recon: Any | None,
    labels: Any | None,
    recon_attrs: Mapping[str, Any] | None = None,
    phases: Mapping[str, int] | None = None,
) -> dict:
    """All QC numbers of a scan: centre, ring metrics, noise, per-phase contrast, shape.

    ``recon_attrs`` are the reconstruction's attributes (default: read from ``recon``),
    ``phases`` the label codes (default: the labels' ``phases`` attribute). Missing inputs
    give missing keys, never invented numbers.
    """
    out: dict[str, Any] = {}
    if recon is not None:
        attrs = dict(recon_attrs) if recon_attrs is not None else volume_attrs(recon)
        out.update(find_qc(attrs))
        # a pyramid level reports the full volume's shape (centres are full-detector pixels)
        out["shape_zyx"] = [int(s) for s in attrs.get("level0_shape") or recon.shape]
        if attrs.get("detector_width"):  # the centre is a detector coordinate, even after crop
            out["detector_width"] = int(attrs["detector_width"])
        out["noise_sigma"] = noise_sigma(recon)
    if recon is not None and labels is not None and tuple(recon.shape) == tuple(labels.shape):
        out.update(phase_stats(recon, labels, phases or phases_of(labels)))
    return out
