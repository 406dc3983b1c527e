"""Connected components of each phase and how they connect the faces of the sample.

Components are face-connected (6-connectivity), the connectivity through which a
diffusion flux passes in the voxel solver (:mod:`tomosnake.morph.tortuosity`), and
taufactor's. Labelling runs slab by slab along z with cc3d (one slab per zarr chunk,
one for a numpy array); components cut by slab boundaries are merged through the
label pairs facing each other across the cut (a graph solved by
``scipy.sparse.csgraph.connected_components``), so a chunked store gives exactly the
in-memory numbers without loading the volume.

For each phase and axis: the fraction of the phase's voxels in components touching
both faces normal to that axis (``percolating_fraction``; ``percolates`` if > 0), the
fraction touching exactly one of them (dead ends), and, over all faces, the isolated
clusters touching no face of the box.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cc3d
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from tomosnake.morph.blocks import check_labels, z_slabs

AXES = {"z": 0, "y": 1, "x": 2}
#: face flags per component: z0, z1, y0, y1, x0, x1
_FACES = 6


def _components(labels: Any, code: int) -> tuple[np.ndarray, np.ndarray]:
    """(voxel count, face flags (n, 6)) of every 6-connected component of ``labels == code``."""
    slabs = z_slabs(labels)
    nz = labels.shape[0]
    sizes, faces, edges = [], [], []
    offset = 0
    prev_last: np.ndarray | None = None
    for start, stop in slabs:
        mask = np.asarray(labels[start:stop]) == code
        lab, n = cc3d.connected_components(mask, connectivity=6, return_N=True)
        lab = lab.astype(np.int64)
        size = np.bincount(lab.ravel(), minlength=n + 1)[1:]
        flags = np.zeros((n, _FACES), dtype=bool)
        planes = [
            lab[0] if start == 0 else None,
            lab[-1] if stop == nz else None,
            lab[:, 0],
            lab[:, -1],
            lab[:, :, 0],
            lab[:, :, -1],
        ]
        for k, plane in enumerate(planes):
            if plane is not None:
                hit = np.unique(plane)
                flags[hit[hit > 0] - 1, k] = True
        if prev_last is not None:
            first = lab[0]
            both = (prev_last > 0) & (first > 0)
            edges.append(np.stack([prev_last[both], first[both] + offset]))
        prev_last = np.where(lab[-1] > 0, lab[-1] + offset, 0)
        sizes.append(size)
        faces.append(flags)
        offset += n
    size = np.concatenate(sizes) if sizes else np.zeros(0, np.int64)
    flags = np.concatenate(faces) if faces else np.zeros((0, _FACES), bool)
    if offset == 0:
        return size, flags
    pairs = np.concatenate(edges, axis=1) - 1 if edges else np.zeros((2, 0), np.int64)
    graph = coo_matrix((np.ones(pairs.shape[1]), (pairs[0], pairs[1])), shape=(offset, offset))
    n_merged, root = connected_components(graph, directed=False)
    merged_size = np.bincount(root, weights=size, minlength=n_merged).astype(np.int64)
    merged_flags = np.zeros((n_merged, _FACES), dtype=bool)
    np.logical_or.at(merged_flags, root, flags)
    return merged_size, merged_flags


def connectivity(
    labels: Any, phases: Mapping[str, int], axes: Sequence[str] = ("z", "y", "x")
) -> dict[str, Any]:
    """Connectivity statistics of every phase (6-connected components).

    Returns, per phase name: ``n_components``, ``largest_component_fraction``,
    ``n_isolated`` and ``isolated_fraction`` (components touching no box face), and
    ``axes[a]`` with ``percolating_fraction`` (voxels in components touching both faces
    normal to axis ``a``), ``dead_end_fraction`` (exactly one of them) and ``percolates``.
    Fractions are of the phase's own voxels (dimensionless).
    """
    check_labels(labels)
    out: dict[str, Any] = {}
    for name, code in phases.items():
        size, flags = _components(labels, code)
        total = int(size.sum())

        def frac(sel: np.ndarray, size: np.ndarray = size, total: int = total) -> float:
            return float(size[sel].sum() / total) if total else 0.0

        isolated = ~flags.any(axis=1)
        per_axis = {}
        for axis in axes:
            k = AXES[axis]
            lo, hi = flags[:, 2 * k], flags[:, 2 * k + 1]
            per_axis[axis] = {
                "percolating_fraction": frac(lo & hi),
                "dead_end_fraction": frac(lo ^ hi),
                "percolates": bool((lo & hi).any()),
            }
        out[name] = {
            "voxels": total,
            "n_components": int(size.size),
            "largest_component_fraction": float(size.max() / total) if total else 0.0,
            "n_isolated": int(isolated.sum()),
            "isolated_fraction": frac(isolated),
            "axes": per_axis,
        }
    return out
