"""Volume fractions of each phase (chunk by chunk for zarr stores)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tomosnake.morph.blocks import as_dask, check_labels, is_chunked


def _counts(block: np.ndarray, codes: np.ndarray) -> np.ndarray:
    flat = np.asarray(block).ravel()
    return np.array([np.count_nonzero(flat == c) for c in codes], dtype=np.int64)


def phase_voxel_counts(labels: Any, phases: Mapping[str, int]) -> dict[str, int]:
    """Number of voxels of each phase; zarr/dask volumes are counted chunk by chunk (dask)."""
    check_labels(labels)
    codes = np.array(list(phases.values()))
    if is_chunked(labels):
        import dask

        blocks = as_dask(labels).to_delayed().ravel()
        parts = dask.compute(*[dask.delayed(_counts)(b, codes) for b in blocks])
        counts = np.sum(parts, axis=0)
    else:
        counts = _counts(labels, codes)
    return {name: int(n) for name, n in zip(phases, counts, strict=True)}


def volume_fractions(labels: Any, phases: Mapping[str, int]) -> dict[str, Any]:
    """Volume fraction of each phase (dimensionless, of all voxels) and the unassigned rest.

    Returns ``{"fractions": {name: float}, "voxels": {name: int}, "total_voxels": int,
    "unassigned_fraction": float}``; voxels whose label is not in ``phases`` are unassigned.
    """
    counts = phase_voxel_counts(labels, phases)
    total = int(np.prod(labels.shape))
    fractions = {name: n / total for name, n in counts.items()}
    return {
        "fractions": fractions,
        "voxels": counts,
        "total_voxels": total,
        "unassigned_fraction": 1.0 - sum(counts.values()) / total,
    }
