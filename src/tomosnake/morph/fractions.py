"""Volume fractions of each phase inside the sample region (slab by slab)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tomosnake.morph.blocks import check_labels, read, slab_planes, slabs
from tomosnake.morph.sample import Region


def phase_voxel_counts(
    labels: Any,
    phases: Mapping[str, int],
    region: Region | None = None,
    slab_voxels: int | None = None,
) -> tuple[dict[str, int], int]:
    """Voxels of each phase inside the sample region, and the region's voxel count."""
    check_labels(labels)
    counts = dict.fromkeys(phases, 0)
    total = 0
    for s, e in slabs(labels.shape[0], slab_planes(labels, slab_voxels)):
        lab = read(labels, s, e)
        if region is not None and not region.whole:
            lab = lab[region.mask(s, e)]
        total += lab.size
        for name, code in phases.items():
            counts[name] += int(np.count_nonzero(lab == code))
    return counts, total


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
    counts, total = phase_voxel_counts(labels, phases, region, slab_voxels)
    return {
        "fractions": {name: n / total for name, n in counts.items()},
        "voxels": counts,
        "total_voxels": total,
        "unassigned_fraction": 1.0 - sum(counts.values()) / total,
    }
