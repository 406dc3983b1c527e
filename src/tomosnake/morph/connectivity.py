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

from collections.abc import Mapping, Sequence
from typing import Any

import cc3d
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from tomosnake.morph import slabpass
from tomosnake.morph.blocks import check_labels, pad_planes
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


class _Components:
    """Components of one phase, slab by slab: finished ones enter running sums.

    Components still touching a slab's last plane stay open (their size and face flags
    carried to the next slab, joined to the components they touch there); the others are
    finished, so memory is bounded by a slab and the components crossing one plane.
    """

    def __init__(self, code: int, axes: Sequence[str]):
        self.code, self.axes = code, list(axes)
        self.open_size = np.zeros(0, np.int64)
        self.open_flags = np.zeros((0, _FACES), bool)
        self.prev_last: np.ndarray | None = None  # open component (0-based) + 1, last plane
        self.total = self.n_comp = self.n_isolated = self.isolated = self.largest = 0
        self.perc = {axis: [0, 0] for axis in self.axes}  # voxels touching both faces, one

    def add(self, slab: slabpass.Slab, inside: np.ndarray) -> None:
        """Label the slab's core planes; ``inside``: the sample mask of the core planes with
        one more plane before and after (False beyond the volume)."""
        mask = slab.labels(slab.start, slab.stop) == self.code
        mask &= inside[1:-1]
        lab, n = cc3d.connected_components(mask, connectivity=6, return_N=True)
        del mask
        size = np.bincount(lab.ravel(), minlength=n + 1)[1:].astype(np.int64)
        flags = np.zeros((n, _FACES), dtype=bool)
        for k, face in enumerate(_face_masks(inside)):
            hit = np.unique(lab[face])
            flags[hit[hit > 0] - 1, k] = True
        # nodes: the k open components, then this slab's n components
        k = self.open_size.size
        if self.prev_last is not None and k:
            both = (self.prev_last > 0) & (lab[0] > 0)
            pairs = np.unique(
                np.stack([self.prev_last[both] - 1, lab[0][both].astype(np.int64) + k - 1]),
                axis=1,
            )
        else:
            pairs = np.zeros((2, 0), np.int64)
        graph = coo_matrix((np.ones(pairs.shape[1]), (pairs[0], pairs[1])), shape=(k + n, k + n))
        n_merged, root = connected_components(graph, directed=False)
        all_size = np.concatenate([self.open_size, size])
        all_flags = np.concatenate([self.open_flags, flags])
        m_size = np.bincount(root, weights=all_size, minlength=n_merged).astype(np.int64)
        m_flags = np.zeros((n_merged, _FACES), dtype=bool)
        np.logical_or.at(m_flags, root, all_flags)
        last = np.unique(lab[-1])
        still_open = np.zeros(n_merged, dtype=bool)
        if slab.stop < slab.nz:
            still_open[root[last[last > 0] - 1 + k]] = True
        self._finish(m_size[~still_open], m_flags[~still_open])
        # renumber the open components 0..; map this slab's last plane onto them
        new_id = np.cumsum(still_open) - 1
        self.open_size, self.open_flags = m_size[still_open], m_flags[still_open]
        node = lab[-1].astype(np.int64) + k - 1  # -1 + k where there is no component
        self.prev_last = np.zeros(node.shape, dtype=np.int64)
        hit = lab[-1] > 0
        self.prev_last[hit] = new_id[root[node[hit]]] + 1

    def _finish(self, size: np.ndarray, flags: np.ndarray) -> None:
        self.total += int(size.sum())
        self.n_comp += int(size.size)
        self.largest = max(self.largest, int(size.max(initial=0)))
        alone = ~flags.any(axis=1)
        self.n_isolated += int(alone.sum())
        self.isolated += int(size[alone].sum())
        for axis in self.axes:
            lo, hi = flags[:, 2 * AXES[axis]], flags[:, 2 * AXES[axis] + 1]
            self.perc[axis][0] += int(size[lo & hi].sum())
            self.perc[axis][1] += int(size[lo ^ hi].sum())

    def result(self) -> dict[str, Any]:
        total = self.total
        return {
            "voxels": total,
            "n_components": self.n_comp,
            "largest_component_fraction": self.largest / total if total else 0.0,
            "n_isolated": self.n_isolated,
            "isolated_fraction": self.isolated / total if total else 0.0,
            "axes": {
                axis: {
                    "percolating_fraction": both / total if total else 0.0,
                    "dead_end_fraction": one / total if total else 0.0,
                    "percolates": both > 0,
                }
                for axis, (both, one) in self.perc.items()
            },
        }


class Connectivity:
    """Slab metric (:mod:`tomosnake.morph.slabpass`): components of every phase at once."""

    halo = 1

    def __init__(self, phases: Mapping[str, int], axes: Sequence[str] = ("z", "y", "x")):
        self.phases = {name: _Components(code, axes) for name, code in phases.items()}

    def add(self, slab: slabpass.Slab) -> None:
        lo, hi = slab.start - 1, slab.stop + 1
        inside = pad_planes(slab.inside(lo, hi), lo, hi, slab.nz, "constant", False)
        for comp in self.phases.values():
            comp.add(slab, inside)

    def result(self) -> dict[str, Any]:
        """The ``connectivity`` record entry (see :func:`connectivity`)."""
        return {name: comp.result() for name, comp in self.phases.items()}


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
    conn = Connectivity(phases, axes)
    slabpass.run(labels, region or Region(labels, {"mode": "none"}), [conn], slab_voxels)
    return conn.result()
