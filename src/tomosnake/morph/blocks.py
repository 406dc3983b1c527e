"""Labels volumes held in memory (numpy) or on disk (zarr, read chunk by chunk with dask).

Metrics that decompose over chunks (phase voxel counts, marching-cubes areas,
connected components) accept either form; a zarr array is never loaded whole.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tomosnake.errors import InputError


def is_chunked(labels: Any) -> bool:
    """True for a zarr or dask array (processed chunk by chunk), False for numpy."""
    return not isinstance(labels, np.ndarray)


def as_dask(labels: Any):
    """A dask array over ``labels`` (zarr arrays keep their own chunking)."""
    import dask.array as da

    if isinstance(labels, da.Array):
        return labels
    if hasattr(labels, "chunks") and not isinstance(labels, np.ndarray):
        return da.from_zarr(labels)
    return da.from_array(np.asarray(labels))


def check_labels(labels: Any, name: str = "labels") -> None:
    """Raise :class:`InputError` unless ``labels`` is a 3-D integer array (z, y, x)."""
    shape = getattr(labels, "shape", None)
    dtype = getattr(labels, "dtype", None)
    if shape is None or len(shape) != 3:
        raise InputError(f"{name}: expected a 3-D labels volume (z, y, x), got shape {shape}")
    if dtype is None or not np.issubdtype(np.dtype(dtype), np.integer):
        raise InputError(f"{name}: expected integer phase labels, got dtype {dtype}")
    if min(shape) < 2:
        raise InputError(f"{name}: every axis needs at least 2 voxels, got shape {tuple(shape)}")


def z_slabs(labels: Any) -> list[tuple[int, int]]:
    """(start, stop) z ranges following the store's chunking (one slab for numpy)."""
    nz = labels.shape[0]
    if not is_chunked(labels):
        return [(0, nz)]
    step = int(labels.chunks[0]) if isinstance(labels.chunks[0], int | np.integer) else None
    if step is None:  # dask: tuple of chunk sizes per axis
        edges = np.cumsum((0, *labels.chunks[0]))
        return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return [(a, min(a + step, nz)) for a in range(0, nz, step)]
