"""Slab bookkeeping for work fanned out over z: which rows a job owns, and joining results.

A volume of ``nz`` planes is cut into ``n_slabs`` contiguous slabs of nearly equal
thickness; slab ``i`` owns rows ``[i * nz // n, (i + 1) * nz // n)``. Jobs write one
store per slab; :func:`concat_volumes` joins them in z into the final store.
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


def concat_volumes(
    slab_paths: Sequence[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    attrs: Mapping[str, Any] | None = None,
    chunks: tuple[int, ...] | None = None,
) -> Path:
    """Join slab stores (in the given order) along z into one zarr store, atomically.

    Attributes come from the first slab, updated with ``attrs``; keys ``z_range``
    (per-slab bookkeeping) are dropped. Slabs are copied one at a time, so memory
    holds one slab, not the volume.
    """
    vols = [open_volume(p) for p in slab_paths]
    if not vols:
        raise InputError(f"{out_path}: no slabs to join")
    first = vols[0]
    for p, v in zip(slab_paths, vols, strict=True):
        if v.shape[1:] != first.shape[1:] or v.dtype != first.dtype:
            raise InputError(
                f"{p}: slab is {v.shape[1:]} {v.dtype}, expected {first.shape[1:]} {first.dtype}"
            )
    meta = {k: v for k, v in volume_attrs(first).items() if k != "z_range"}
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
