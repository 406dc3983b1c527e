"""Volume fractions of each phase inside the sample region (slab by slab)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tomosnake.morph import slabpass
from tomosnake.morph.blocks import check_labels
from tomosnake.morph.sample import Region


class PhaseCounts:
    """Slab metric (:mod:`tomosnake.morph.slabpass`): voxels of each phase in the sample.

    ``counts`` {name: voxels} and ``total`` (sample voxels) once the pass is done.
    """

    halo = 0

    def __init__(self, phases: Mapping[str, int]):
        self.phases = dict(phases)
        self.counts = dict.fromkeys(self.phases, 0)
        self.total = 0

    def add(self, slab: slabpass.Slab) -> None:
        lab = slab.labels(slab.start, slab.stop)
        if not slab.whole:
            lab = lab[slab.inside(slab.start, slab.stop)]
        self.total += lab.size
        for name, code in self.phases.items():
            self.counts[name] += int(np.count_nonzero(lab == code))

    def result(self) -> dict[str, Any]:
        """The ``fractions`` record entry (see :func:`volume_fractions`)."""
        total = self.total
        return {
            "fractions": {name: n / total for name, n in self.counts.items()},
            "voxels": dict(self.counts),
            "total_voxels": total,
            "unassigned_fraction": 1.0 - sum(self.counts.values()) / total,
        }


def volume_fractions(
    labels: Any,
    phases: Mapping[str, int],
    region: Region | None = None,
    slab_voxels: int | None = None,
) -> dict[str, Any]:
    """Volume fraction of each phase (dimensionless) of the sample region's voxels.

    ``region``: the sample region (:class:`~tomosnake.morph.sample.Region`; None: the
    whole volume). Returns ``{"fractions": {name: float}, "voxels": {name: int},
    "total_voxels": int, "unassigned_fraction": float}``; ``total_voxels`` counts the
    region, and its voxels whose label is not in ``phases`` are unassigned.
    """
    check_labels(labels)
    counts = PhaseCounts(phases)
    slabpass.run(labels, region or Region(labels, {"mode": "none"}), [counts], slab_voxels)
    return counts.result()
