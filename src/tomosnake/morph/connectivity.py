"""Connected components of each phase and how they connect the faces of the sample.

Components are face-connected (6-connectivity), the connectivity through which a
diffusion flux passes in the voxel solver (:mod:`tomosnake.morph.tortuosity`), and
taufactor's. Only voxels inside the sample region count. Labelling runs slab by slab
along z with cc3d; components cut by slab boundaries are joined through the label
pairs facing each other across the cut (a union-find over those pairs, solved by
``scipy.sparse.csgraph.connected_components``). Only the components touching a slab's
last plane are carried to the next slab; the others are finished and enter running
sums, so memory is bounded by a slab, not by the volume or its number of components,
and a chunked store gives exactly the in-memory numbers.

The faces of the sample along an axis are its voxels whose neighbour one step down
(lower face) or up (upper face) that axis is outside the sample or outside the volume:
the box faces for a box-shaped sample, the end discs and the two half-mantles for a
cylinder. For each phase and axis: the fraction of the phase's voxels in components
touching both faces (``percolating_fraction``; ``percolates`` if > 0), the fraction
touching exactly one of them (dead ends), and, over all faces, the isolated clusters
touching no face of the sample.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import cc3d
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from tomosnake.morph.blocks import check_labels, read, slab_planes, slabs
from tomosnake.morph.sample import Region

AXES = {"z": 0, "y": 1, "x": 2}
#: face flags per component: z0, z1, y0, y1, x0, x1
_FACES = 6


def _face_masks(inside: np.ndarray) -> list[np.ndarray]:
    """Lower/upper face voxels along z, y, x of the core planes of ``inside``.

    ``inside``: the sample mask of the core planes with one extra plane before and
    after (False beyond the volume). Returns six boolean arrays of the core's shape.
    """
    core = inside[1:-1]
    out = [core & ~inside[:-2], core & ~inside[2:]]
    for axis in (1, 2):
        pad = [(0, 0)] * 3
        pad[axis] = (1, 1)
        p = np.pad(core, pad)
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -2), slice(2, None)
        out += [core & ~p[tuple(lo)], core & ~p[tuple(hi)]]
    return out


def _components(
    labels: Any, code: int, region: Region | None, planes: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Finished components of the phase, slab by slab: (voxel counts, face flags (n, 6)).

    Components still touching a slab's last plane stay open (their size and flags carried
    to the next slab, joined to the components they touch there); the others are
    yielded, so memory is bounded by a slab and the components crossing one plane.
    """
    nz = labels.shape[0]
    open_size = np.zeros(0, np.int64)
    open_flags = np.zeros((0, _FACES), bool)
    prev_last: np.ndarray | None = None  # open component (0-based) + 1 on the last plane
    for start, stop in slabs(nz, planes):
        if region is None or region.whole:
            inside = np.ones((stop - start + 2, *labels.shape[1:]), dtype=bool)
            inside[0] = start > 0
            inside[-1] = stop < nz
        else:
            inside = np.zeros((stop - start + 2, *labels.shape[1:]), dtype=bool)
            a, b = max(start - 1, 0), min(stop + 1, nz)
            inside[a - start + 1 : b - start + 1] = region.mask(a, b)
        mask = read(labels, start, stop) == code
        mask &= inside[1:-1]
        lab, n = cc3d.connected_components(mask, connectivity=6, return_N=True)
        del mask
        size = np.bincount(lab.ravel(), minlength=n + 1)[1:].astype(np.int64)
        flags = np.zeros((n, _FACES), dtype=bool)
        for k, face in enumerate(_face_masks(inside)):
            hit = np.unique(lab[face])
            flags[hit[hit > 0] - 1, k] = True
        # nodes: the k open components, then this slab's n components
        k = open_size.size
        if prev_last is not None and k:
            both = (prev_last > 0) & (lab[0] > 0)
            pairs = np.unique(
                np.stack([prev_last[both] - 1, lab[0][both].astype(np.int64) + k - 1]), axis=1
            )
        else:
            pairs = np.zeros((2, 0), np.int64)
        graph = coo_matrix((np.ones(pairs.shape[1]), (pairs[0], pairs[1])), shape=(k + n, k + n))
        n_merged, root = connected_components(graph, directed=False)
        all_size = np.concatenate([open_size, size])
        all_flags = np.concatenate([open_flags, flags])
        m_size = np.bincount(root, weights=all_size, minlength=n_merged).astype(np.int64)
        m_flags = np.zeros((n_merged, _FACES), dtype=bool)
        np.logical_or.at(m_flags, root, all_flags)
        last = np.unique(lab[-1])
        still_open = np.zeros(n_merged, dtype=bool)
        if stop < nz:
            still_open[root[last[last > 0] - 1 + k]] = True
        yield m_size[~still_open], m_flags[~still_open]
        # renumber the open components 0..; map this slab's last plane onto them
        new_id = np.cumsum(still_open) - 1
        open_size, open_flags = m_size[still_open], m_flags[still_open]
        node = lab[-1].astype(np.int64) + k - 1  # -1 + k where there is no component
        prev_last = np.zeros(node.shape, dtype=np.int64)
        hit = lab[-1] > 0
        prev_last[hit] = new_id[root[node[hit]]] + 1
        del lab


def connectivity(
    labels: Any,
    phases: Mapping[str, int],
    axes: Sequence[str] = ("z", "y", "x"),
    region: Region | None = None,
    slab_voxels: int | None = None,
) -> dict[str, Any]:
    """Connectivity statistics of every phase (6-connected components) inside the sample.

    ``region``: the sample region (None: the whole volume). Returns, per phase name:
    ``voxels``, ``n_components``, ``largest_component_fraction``, ``n_isolated`` and
    ``isolated_fraction`` (components touching no face of the sample), and ``axes[a]``
    with ``percolating_fraction`` (voxels in components touching both faces of the sample
    normal to axis ``a``), ``dead_end_fraction`` (exactly one of them) and
    ``percolates``. Fractions are of the phase's own voxels (dimensionless).
    """
    check_labels(labels)
    planes = slab_planes(labels, slab_voxels)
    out: dict[str, Any] = {}
    for name, code in phases.items():
        total = n_comp = n_isolated = isolated = largest = 0
        perc = {axis: [0, 0] for axis in axes}  # voxels touching both faces, exactly one
        for size, flags in _components(labels, code, region, planes):
            total += int(size.sum())
            n_comp += int(size.size)
            largest = max(largest, int(size.max(initial=0)))
            alone = ~flags.any(axis=1)
            n_isolated += int(alone.sum())
            isolated += int(size[alone].sum())
            for axis in axes:
                lo, hi = flags[:, 2 * AXES[axis]], flags[:, 2 * AXES[axis] + 1]
                perc[axis][0] += int(size[lo & hi].sum())
                perc[axis][1] += int(size[lo ^ hi].sum())
        per_axis = {
            axis: {
                "percolating_fraction": both / total if total else 0.0,
                "dead_end_fraction": one / total if total else 0.0,
                "percolates": both > 0,
            }
            for axis, (both, one) in perc.items()
        }
        out[name] = {
            "voxels": total,
            "n_components": n_comp,
            "largest_component_fraction": largest / total if total else 0.0,
            "n_isolated": n_isolated,
            "isolated_fraction": isolated / total if total else 0.0,
            "axes": per_axis,
        }
    return out
