"""Slab bookkeeping for work fanned out over z: which rows a job owns, and joining results.

A volume of ``nz`` planes is cut into ``n_slabs`` contiguous slabs of nearly equal
thickness; slab ``i`` owns rows ``[i * nz // n, (i + 1) * nz // n)``. Jobs write one
store per slab, with attributes ``z0``, ``z1`` (its rows) and ``n_rows`` (the whole
volume's); :func:`concat_volumes` checks that the slabs tile ``0..n_rows`` and joins
them in z into the final store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import zarr

from tomosnake.errors import ConfigError, InputError
from tomosnake.io.volume import atomic_output, create_volume, open_volume, volume_attrs


def slab_range(nz: int, slab: int, n_slabs: int) -> tuple[int, int]:
    """Rows ``(start, stop)`` of slab ``slab`` (0-based) out of ``n_slabs`` over ``nz`` planes."""
    if n_slabs < 1 or not 0 <= slab < n_slabs:
        raise ConfigError(f"slab {slab} out of range for {n_slabs} slabs")
    if n_slabs > nz:
        raise ConfigError(f"{n_slabs} slabs requested but the volume has only {nz} planes")
    return slab * nz // n_slabs, (slab + 1) * nz // n_slabs


SLAB_KEYS = {"z0", "z1", "n_rows"}


def _check_tiling(pairs: list) -> None:
    """Raise InputError unless the slabs' [z0, z1) ranges tile 0..n_rows without gaps."""
    ranges = [(int(volume_attrs(v)["z0"]), int(volume_attrs(v)["z1"])) for _, v in pairs]
    n_rows = int(volume_attrs(pairs[0][1])["n_rows"])
    edges = [0] + [z1 for _, z1 in ranges]
    if [z0 for z0, _ in ranges] != edges[:-1] or edges[-1] != n_rows:
        raise InputError(f"slabs {ranges} do not tile rows 0..{n_rows} exactly "
                         f"({', '.join(p for p, _ in pairs)})")


def concat_volumes(
    slab_paths: Sequence[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    attrs: Mapping[str, Any] | None = None,
    chunks: tuple[int, ...] | None = None,
) -> Path:
    """Join slab stores along z into one zarr store, atomically.

    Slabs carrying ``z0``/``z1``/``n_rows`` attributes are placed by ``z0`` and must
    tile all rows exactly; slabs without them are joined in the given order.
    Attributes come from the first slab (less the slab keys), updated with ``attrs``.
    Slabs are copied one at a time, so memory holds one slab, not the volume.
    """
    pairs = [(str(p), open_volume(p)) for p in slab_paths]
    if not pairs:
        raise InputError(f"{out_path}: no slabs to join")
    if all(SLAB_KEYS <= set(volume_attrs(v)) for _, v in pairs):
        pairs.sort(key=lambda pv: volume_attrs(pv[1])["z0"])
        _check_tiling(pairs)
    first = pairs[0][1]
    for p, v in pairs:
        if v.shape[1:] != first.shape[1:] or v.dtype != first.dtype:
            raise InputError(
                f"{p}: slab is {v.shape[1:]} {v.dtype}, expected {first.shape[1:]} {first.dtype}"
            )
    vols = [v for _, v in pairs]
    meta = {k: v for k, v in volume_attrs(first).items() if k not in SLAB_KEYS}
    meta.update(attrs or {})
    nz = sum(v.shape[0] for v in vols)
    with atomic_output(out_path) as tmp:
        out: zarr.Array = create_volume(
            tmp, (nz, *first.shape[1:]), first.dtype, attrs=meta, chunks=chunks
        )
        z0 = 0
        for v in vols:
            out[z0 : z0 + v.shape[0]] = v[...]
            z0 += v.shape[0]
    return Path(out_path)
