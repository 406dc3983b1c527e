"""One read of a labels volume for the sample region and every slab metric.

The labels are read once, forward along z, in whole z-chunks of the store. The ``auto``
sample region (:mod:`tomosnake.morph.sample`) is fitted block by block from the planes
already in memory, and each slab metric (fractions, surface, connectivity) takes every
slab of ``slab_planes`` planes with the halo it needs from the planes still held, as soon
as the region of those planes is known. So a morphology job reads each byte of its labels
once, however many metrics and phases it computes (before, each metric and phase made its
own pass, and the region fit two more).

Memory: the planes held span at most one fit block (``morph.sample.block_planes``) plus
one slab and its halos (whole planes; a block for modes other than ``auto`` is not
needed), plus what each metric holds for one slab: bounded by settings and the slice
size, never by the number of planes. A volume of at most ``keep_voxels`` voxels is kept
whole in memory for the metrics that follow (tortuosity, sizes), so a small volume is read
once in all.

A slab metric is an object with ``halo`` (planes it needs on each side of a slab) and
``add(slab)`` taking a :class:`Slab`; its totals are read from it afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from tomosnake.morph.blocks import read, slab_planes, slabs
from tomosnake.morph.sample import Region, fit_auto_block, warn_poor_fit
from tomosnake.progress import track


class SlabMetric(Protocol):
    """A metric summed over z-slabs of whole planes (see the module docstring)."""

    halo: int

    def add(self, slab: Slab) -> None:
        """Add the slab's core planes ``slab.start .. slab.stop - 1``."""


class _Planes:
    """Planes of a volume held in memory, read forward in steps of whole z-chunks."""

    def __init__(self, labels: Any, step: int, keep: bool):
        self.labels, self.step, self.keep = labels, step, keep
        self.nz = int(labels.shape[0])
        self.pieces: list[tuple[int, np.ndarray]] = []  # (first plane, planes), in z order
        self.read_to = 0

    def need(self, hi: int) -> None:
        """Read planes up to ``hi`` (clipped to the volume), each plane once."""
        hi = min(hi, self.nz)
        while self.read_to < hi:
            stop = min(self.read_to + self.step, self.nz)
            self.pieces.append((self.read_to, read(self.labels, self.read_to, stop)))
            self.read_to = stop

    def drop(self, lo: int) -> None:
        """Forget the pieces that lie wholly below plane ``lo`` (unless keeping all)."""
        if not self.keep:
            self.pieces = [(a, p) for a, p in self.pieces if a + p.shape[0] > lo]

    def get(self, lo: int, hi: int) -> np.ndarray:
        """Planes ``max(lo, 0) .. min(hi, nz) - 1`` (read already; a view when possible)."""
        lo, hi = max(lo, 0), min(hi, self.nz)
        parts = [
            p[max(lo - a, 0) : hi - a] for a, p in self.pieces if a < hi and a + p.shape[0] > lo
        ]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def whole(self) -> np.ndarray:
        """Every plane (only when keeping all and the whole volume was read)."""
        return self.get(0, self.nz)


class _Window:
    """Planes ``lo .. hi - 1`` held by :class:`_Planes`, sliced along z without a copy."""

    def __init__(self, planes: _Planes, lo: int, hi: int):
        self.planes, self.lo = planes, lo
        self.shape = (hi - lo, *planes.labels.shape[1:])

    def __getitem__(self, z: slice) -> np.ndarray:
        return self.planes.get(self.lo + z.start, self.lo + z.stop)


class Slab:
    """Core planes ``start .. stop - 1`` of a slab pass, with its labels and region at hand.

    :meth:`labels` and :meth:`inside` return planes of the labels and of the sample mask
    for any range within the pass's halo, clipped to the volume (callers pad beyond it).
    """

    def __init__(self, start: int, stop: int, planes: _Planes, region: Region, halo: int):
        self.start, self.stop, self.nz = start, stop, planes.nz
        self.shape = planes.labels.shape
        self._planes, self._region = planes, region
        self._lo = start - halo
        self._mask = region.mask(start - halo, stop + halo)

    @property
    def whole(self) -> bool:
        """True when every voxel is sample (mode ``none``)."""
        return self._region.whole

    def labels(self, lo: int, hi: int) -> np.ndarray:
        """Label planes ``max(lo, 0) .. min(hi, nz) - 1``."""
        return self._planes.get(lo, hi)

    def inside(self, lo: int, hi: int) -> np.ndarray:
        """Sample mask of planes ``max(lo, 0) .. min(hi, nz) - 1``."""
        first = max(self._lo, 0)
        return self._mask[max(lo, 0) - first : min(hi, self.nz) - first]


def run(
    labels: Any,
    region: Region,
    metrics: Sequence[SlabMetric],
    slab_voxels: int | None = None,
    keep_voxels: int = 0,
) -> np.ndarray | None:
    """One forward read of ``labels`` feeding every metric's ``add`` in z order.

    ``region``: the sample region; an ``auto`` region whose ``params["blocks"]`` is empty
    is fitted during the pass (its blocks appended). Returns the whole volume as a numpy
    array when it has at most ``keep_voxels`` voxels (and so was kept), else None. Reads
    nothing when there is nothing to fit, add or keep.
    """
    nz = int(labels.shape[0])
    keep = int(np.prod(labels.shape)) <= keep_voxels
    params = region.region["params"]
    fit = region.region["mode"] == "auto" and not params.get("blocks")
    if not (metrics or fit or keep):
        return None
    step = slab_planes(labels, slab_voxels)
    halo = max((m.halo for m in metrics), default=0)
    planes = _Planes(labels, step, keep)
    if fit:
        params["blocks"] = []
    known = 0 if fit else nz  # the region of planes below ``known`` is known
    what = ", ".join(type(m).__name__ for m in metrics) or "sample region"
    for start, stop in track(list(slabs(nz, step)), f"morphology pass ({what})"):
        while known < min(stop + halo, nz):  # fit the blocks this slab's halo reaches
            end = min(known + int(params["block_planes"]), nz)
            planes.need(end)
            block = _Window(planes, known, end)
            params["blocks"].append(fit_auto_block(block, known, params, step))
            known = end
        planes.need(stop + halo)
        slab = Slab(start, stop, planes, region, halo)
        for metric in metrics:
            metric.add(slab)
        planes.drop(stop - halo)
    if fit:
        warn_poor_fit(params["blocks"])
    return planes.whole() if keep else None
