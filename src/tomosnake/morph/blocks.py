"""Labels volumes held in memory (numpy) or on disk (zarr), read slab by slab along z.

Every metric of :mod:`tomosnake.morph` runs one loop over z-slabs of whole planes (with
a halo where the metric needs neighbours), so its memory is bounded by a slab, not by
the volume, and a zarr array is never loaded whole. Slabs hold about
``slab_voxels`` voxels, rounded to whole chunks of the store.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from tomosnake.errors import InputError

#: default voxels per slab (16 Mi: 256 planes of 256^2, 4 planes of 2048^2)
SLAB_VOXELS = 1 << 24


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


def slab_planes(labels: Any, slab_voxels: int | None = None) -> int:
    """Planes per slab: about ``slab_voxels`` voxels, a whole number of z-chunks of a store
    when at least one chunk fits (else part of a chunk: the budget wins)."""
    plane = int(labels.shape[1]) * int(labels.shape[2])
    planes = max(1, int(slab_voxels or SLAB_VOXELS) // plane)
    chunks = getattr(labels, "chunks", None)
    if chunks is not None and not isinstance(labels, np.ndarray):
        cz = int(chunks[0] if isinstance(chunks[0], int | np.integer) else max(chunks[0]))
        if planes >= cz:
            planes -= planes % cz
    return min(planes, int(labels.shape[0]))


def slabs(nz: int, planes: int) -> Iterator[tuple[int, int]]:
    """(start, stop) plane ranges of ``planes`` planes covering 0..nz."""
    for s in range(0, nz, max(1, planes)):
        yield s, min(s + planes, nz)


def read(labels: Any, lo: int, hi: int) -> np.ndarray:
    """Planes ``lo .. hi - 1`` of a volume as a numpy array (clipped to the volume)."""
    return np.asarray(labels[max(lo, 0) : min(hi, labels.shape[0])])


def pad_planes(a: np.ndarray, lo: int, hi: int, nz: int, mode: str, value: Any = 0) -> np.ndarray:
    """Extend planes read for ``max(lo, 0) .. min(hi, nz)`` to exactly ``lo .. hi``.

    Planes beyond the volume are ``value`` (``mode="constant"``) or copies of the
    nearest plane (``mode="edge"``).
    """
    before, after = max(0, -lo), max(0, hi - nz)
    if not before and not after:
        return a
    widths = ((before, after), (0, 0), (0, 0))
    if mode == "edge":
        return np.pad(a, widths, mode="edge")
    return np.pad(a, widths, mode="constant", constant_values=value)


def block_shape(
    shape: tuple[int, ...], slab_voxels: int | None = None, halo: int = 0
) -> tuple[int, int, int]:
    """Core shape (z, y, x) of blocks whose halo-grown box holds about ``slab_voxels``.

    Cubic where the volume allows; a volume with fewer planes than the cube gets flatter,
    wider blocks, so its blocks hold as many voxels as those of a taller volume (memory
    per job the same for 64 planes as for 512). A core is at least 16 voxels and twice
    the halo a side (at most 8x the work of the core per block): a structure too coarse
    for the budget takes more memory rather than forever.
    """
    budget = int(slab_voxels or SLAB_VOXELS)
    edge = round(budget ** (1 / 3))
    least = max(16, 2 * halo)
    nz = int(shape[0])
    if nz + 2 * halo <= edge:  # all planes in one block: no halo along z
        core_z, loaded_z = nz, nz
    else:
        core_z = max(least, edge - 2 * halo)
        loaded_z = min(nz, core_z + 2 * halo)
    eyx = math.isqrt(max(budget // max(loaded_z, 1), 1))
    core = (core_z, max(least, eyx - 2 * halo), max(least, eyx - 2 * halo))
    return tuple(min(c, int(n)) for c, n in zip(core, shape, strict=True))  # type: ignore[return-value]


Box = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


def boxes(shape: tuple[int, ...], core: tuple[int, int, int]) -> Iterator[Box]:
    """Blocks ((z0, z1), (y0, y1), (x0, x1)) of ``core`` voxels tiling a (z, y, x) volume."""
    ranges = [
        [(a, min(a + c, n)) for a in range(0, n, c)] for n, c in zip(shape, core, strict=True)
    ]
    for bz in ranges[0]:
        for by in ranges[1]:
            for bx in ranges[2]:
                yield bz, by, bx


def grow(box: Box, halo: int) -> Box:
    """``box`` extended by ``halo`` voxels on every side (may reach beyond the volume)."""
    return tuple((a - halo, b + halo) for a, b in box)  # type: ignore[return-value]


def clip(box: Box, shape: tuple[int, ...]) -> Box:
    """``box`` clipped to a volume of ``shape``."""
    return tuple((max(a, 0), min(b, n)) for (a, b), n in zip(box, shape, strict=True))  # type: ignore[return-value]
