"""Quality numbers a scientist checks before trusting a scan, and the flags raised on them.

All grey-value statistics are in the reconstruction's units (attenuation per
voxel as reconstructed); lengths in micrometres; volumes (z, y, x).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from skimage.restoration import estimate_sigma

from tomosnake.io import volume_attrs
from tomosnake.viz.inputs import find_qc, phases_of, sample_planes, z_slabs

#: a scan is flagged when its rotation centre is this far (fraction of the width) off-middle
CENTER_OFFSET_FLAG = 0.1
#: a pair of neighbouring phases is flagged when their contrast-to-noise ratio is below this
CNR_FLAG = 2.0
#: a phase is flagged when its volume fraction is below this
MIN_FRACTION_FLAG = 0.005


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


def fractions_along_z(labels: Any, phases: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Volume fraction of each phase in every z-plane (phase name -> (z,) array), slab-wise."""
    nz, ny, nx = labels.shape
    out = {name: np.zeros(nz) for name in phases}
    for z0, z1 in z_slabs(nz, ny * nx, budget_bytes=64 * 2**20):
        slab = np.asarray(labels[z0:z1])
        for name, code in phases.items():
            out[name][z0:z1] = np.count_nonzero(slab == code, axis=(1, 2)) / (ny * nx)
    return out


def noise_sigma(recon: Any) -> float:
    """Gaussian noise level of the middle z-plane (wavelet MAD estimate, grey units)."""
    plane = np.asarray(recon[recon.shape[0] // 2], dtype=np.float64)
    return float(estimate_sigma(plane))


def scan_qc(recon: Any | None, labels: Any | None, qc: Mapping[str, Any] | None = None) -> dict:
    """All QC numbers of a scan: centre, ring metrics, noise, per-phase contrast, shape.

    ``qc`` (e.g. the preprocess step's dict) overrides what the reconstruction
    attributes say. Missing inputs give missing keys, never invented numbers.
    """
    out: dict[str, Any] = {}
    if recon is not None:
        attrs = volume_attrs(recon)
        out.update(find_qc(attrs))
        out["shape_zyx"] = [int(s) for s in recon.shape]
        if attrs.get("detector_width"):  # the centre is a detector coordinate, even after crop
            out["detector_width"] = int(attrs["detector_width"])
        out["noise_sigma"] = noise_sigma(recon)
    if qc:
        out.update(find_qc(qc))
        out.update({k: v for k, v in qc.items() if not isinstance(v, Mapping)})
    if recon is not None and labels is not None and tuple(recon.shape) == tuple(labels.shape):
        out.update(phase_stats(recon, labels, phases_of(labels)))
    return out


def qc_flags(qc: Mapping[str, Any], fractions: Mapping[str, float] | None = None) -> list[str]:
    """Human-readable warnings for a scan's QC numbers (empty list: nothing suspicious)."""
    flags = []
    before, after = qc.get("ring_metric_before"), qc.get("ring_metric_after")
    if _num(before) and _num(after) and after > before:
        flags.append(f"ring metric rose in preprocessing ({before:.3g} -> {after:.3g})")
    center, shape = qc.get("center"), qc.get("shape_zyx")
    if _num(center) and shape:
        width = qc.get("detector_width") or shape[-1]
        if abs(center - width / 2) > CENTER_OFFSET_FLAG * width:
            flags.append(f"rotation centre {center:.1f} is far from the middle ({width / 2:.1f})")
    for pair, value in (qc.get("cnr") or {}).items():
        if _num(value) and value < CNR_FLAG:
            flags.append(f"low contrast {pair} (CNR {value:.2f} < {CNR_FLAG})")
    for name, value in (fractions or {}).items():
        if _num(value) and value < MIN_FRACTION_FLAG:
            flags.append(f"phase {name} almost absent ({100 * value:.2f} %)")
    return flags


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
