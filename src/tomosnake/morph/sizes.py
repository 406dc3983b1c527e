"""Size distributions: local thickness of a phase and separated particles (watershed).

Local thickness (porespy's ``local_thickness(method="legacy", sizes=25)``, voxel for
voxel, via edt): each voxel gets the diameter of the largest ball that fits inside the
phase and covers it. Balls are tried for ``n_sizes`` radii, log-spaced from the largest
distance-transform value down to 1 voxel; each try is one Euclidean distance transform.

Particles (e.g. NMC): the phase is split into particles by a marker-controlled
watershed (scikit-image) of the negated distance transform, with one marker per
regional maximum of the distance map higher than ``h`` voxels above its
surroundings (h-maxima); each particle's equivalent diameter is that of the sphere of
equal volume, ``(6 V / pi) ** (1/3)``.

All diameters are in µm (voxel size times voxel counts); distributions are
volume-weighted (local thickness) or number-weighted (particles).
"""

from __future__ import annotations

from typing import Any

import edt
import numpy as np
from scipy import ndimage as ndi


def local_thickness(mask: np.ndarray, n_sizes: int = 25) -> np.ndarray:
    """Local thickness *diameter* (voxels, float32) of each voxel of a boolean (z, y, x) mask."""
    mask = np.ascontiguousarray(mask, dtype=bool)
    dt = edt.edt(mask, black_border=False, parallel=0)
    out = np.zeros(mask.shape, dtype=np.float32)
    if not mask.any():
        return out
    radii = np.unique(np.logspace(np.log10(max(float(dt.max()), 1.0)), 0, n_sizes))[::-1]
    for r in radii:
        seeds = dt >= r
        if not seeds.any():
            continue
        covered = edt.edt(~seeds, black_border=False, parallel=0) < r
        out[(out == 0) & covered & mask] = 2 * r
    return out


def _distribution(values_um: np.ndarray, weights: np.ndarray | None, bins: int = 20) -> dict:
    if values_um.size == 0:
        return {
            "mean_um": None,
            "d10_um": None,
            "d50_um": None,
            "d90_um": None,
            "bin_edges_um": [],
            "fraction": [],
        }
    w = np.ones_like(values_um, dtype=np.float64) if weights is None else weights
    order = np.argsort(values_um)
    v, cw = values_um[order], np.cumsum(w[order]) / w.sum()
    quant = {
        f"d{q}_um": float(v[min(np.searchsorted(cw, q / 100), v.size - 1)]) for q in (10, 50, 90)
    }
    hist, edges = np.histogram(values_um, bins=bins, weights=w)
    return {
        "mean_um": float(np.average(values_um, weights=w)),
        **quant,
        "bin_edges_um": edges.tolist(),
        "fraction": (hist / hist.sum()).tolist(),
    }


def thickness_distribution(mask: np.ndarray, voxel_size_um: float, n_sizes: int = 25) -> dict:
    """Volume-weighted distribution of local thickness diameters (µm) of a phase."""
    lt = local_thickness(mask, n_sizes)
    values = lt[mask].astype(np.float64) * voxel_size_um
    uniq, counts = np.unique(values, return_counts=True)
    return _distribution(uniq, counts.astype(np.float64))


def separate_particles(mask: np.ndarray, h: float = 1.0, min_voxels: int = 8) -> np.ndarray:
    """Particle labels (int32, 0 outside) from a watershed of the mask's distance map.

    ``h``: minimal height (voxels) of a distance-map maximum to seed its own particle;
    particles smaller than ``min_voxels`` are dropped (labels 0).
    """
    from skimage.morphology import h_maxima
    from skimage.segmentation import watershed

    mask = np.ascontiguousarray(mask, dtype=bool)
    dt = edt.edt(mask, black_border=False, parallel=0)
    markers, _ = ndi.label(h_maxima(dt, h) & mask)
    labels = watershed(-dt, markers, mask=mask).astype(np.int32)
    sizes = np.bincount(labels.ravel())
    small = np.flatnonzero(sizes < min_voxels)
    if small.size:
        labels[np.isin(labels, small)] = 0
    return labels


def particle_sizes(mask: np.ndarray, voxel_size_um: float, h: float = 1.0) -> dict[str, Any]:
    """Number and equivalent-diameter distribution (µm, number-weighted) of separated particles."""
    labels = separate_particles(mask, h)
    volumes = np.bincount(labels.ravel())[1:]
    volumes = volumes[volumes > 0].astype(np.float64)
    diam = (6.0 * volumes / np.pi) ** (1.0 / 3.0) * voxel_size_um
    return {
        "n_particles": int(diam.size),
        **_distribution(diam, None),
        "diameters_um": np.sort(diam).tolist(),
    }
