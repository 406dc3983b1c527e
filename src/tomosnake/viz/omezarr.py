"""Multiscale OME-Zarr (NGFF v0.5, zarr v3) of a reconstruction and its labels, for napari.

Layout (``out_path`` is a zarr v3 group)::

    scan.ome.zarr/            multiscales image "recon": arrays 0, 1, ... (z, y, x) float32
        labels/               {"ome": {"labels": ["phases"]}}
            phases/           multiscales label image, uint8, with "image-label" colours/names

Level k is the full-resolution volume downsampled by 2**k on every axis (block
mean for grey values, nearest sample for labels); its ``scale`` metadata is the
voxel size times 2**k in micrometres. All levels are built together from one
z-slab of the full-resolution volume at a time, so memory stays bounded (one slab of
``CHUNKS[0]`` planes) whatever the volume size.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from tomosnake.errors import ConfigError
from tomosnake.io import atomic_output, volume_attrs
from tomosnake.progress import track
from tomosnake.viz.inputs import (
    check_same_shape,
    open_3d,
    phase_color,
    phases_of,
    sample_planes,
    voxel_size_um,
)

NGFF_VERSION = "0.5"
AXES = [{"name": n, "type": "space", "unit": "micrometer"} for n in ("z", "y", "x")]
#: chunks (z, y, x) of level 0, and the depth of the slabs it is written in; level k
#: has z-chunks CHUNKS[0] >> k deep so that each slab fills whole chunks at every level
CHUNKS = (32, 256, 256)


def _multiscales(name: str, n_levels: int, voxel_um: float, method: str) -> list[dict]:
    datasets = [
        {
            "path": str(k),
            "coordinateTransformations": [{"type": "scale", "scale": [voxel_um * 2**k] * 3}],
        }
        for k in range(n_levels)
    ]
    return [
        {
            "name": name,
            "axes": AXES,
            "datasets": datasets,
            "type": method,
            "metadata": {"description": f"level k = level 0 downsampled by 2**k ({method})"},
        }
    ]


def _create(group: zarr.Group, path: str, shape: tuple[int, ...], dtype: Any, k: int) -> zarr.Array:
    """Level ``k``: chunks of ``CHUNKS`` with the z-depth halved per level (slab-aligned)."""
    chunks = (max(CHUNKS[0] >> k, 1), *CHUNKS[1:])
    return group.create_array(
        path,
        shape=shape,
        dtype=dtype,
        chunks=tuple(min(c, s) for c, s in zip(chunks, shape, strict=True)),
        dimension_names=("z", "y", "x"),
        fill_value=0,
    )


def _halve(block: np.ndarray, labels: bool) -> np.ndarray:
    """Downsample a (z, y, x) block by 2 per axis: nearest sample (labels) or 2x2x2 mean."""
    nz, ny, nx = (s - s % 2 for s in block.shape)  # odd tails dropped, as in the level shapes
    block = block[:nz, :ny, :nx]
    if labels:
        return np.ascontiguousarray(block[::2, ::2, ::2])
    blocks = block.reshape(nz // 2, 2, ny // 2, 2, nx // 2, 2)
    return blocks.mean(axis=(1, 3, 5), dtype=block.dtype)


def _write_pyramid(group: zarr.Group, source: Any, n_levels: int, labels: bool, what: str) -> None:
    """Write levels 0..n_levels-1 of ``source`` into ``group``, one z-slab at a time.

    A slab is ``CHUNKS[0]`` planes of level 0; it yields exactly one row of chunks at
    every level (level k chunks are ``CHUNKS[0] >> k`` planes deep), so memory is one
    slab whatever the volume size and no chunk is written twice.
    """
    shape = tuple(source.shape)
    dtype = np.uint8 if labels else np.dtype(source.dtype)
    arrays = [
        _create(group, str(k), tuple(s >> k for s in shape), dtype, k) for k in range(n_levels)
    ]
    depth = CHUNKS[0]
    for z0 in track(range(0, shape[0], depth), f"OME-Zarr pyramid of {what}"):
        block = np.asarray(source[z0 : z0 + depth], dtype=dtype)
        for k, arr in enumerate(arrays):
            if k:
                block = _halve(block, labels)
            start = z0 >> k
            stop = min(start + block.shape[0], arr.shape[0])
            if stop > start:
                arr[start:stop] = block[: stop - start, : arr.shape[1], : arr.shape[2]]


def _levels_for(shape: tuple[int, ...], levels: int) -> int:
    """Requested levels, fewer if a level would have an axis shorter than 2 voxels.

    At most ``log2(CHUNKS[0]) + 1`` levels, so every slab start is divisible by 2**k.
    """
    if levels < 1:
        raise ConfigError(f"levels must be at least 1, got {levels}")
    fit = 1
    while fit < min(levels, CHUNKS[0].bit_length()) and min(shape) // 2**fit >= 2:
        fit += 1
    return fit


def _omero(recon: Any, name: str) -> dict:
    sample = sample_planes(recon, 8)
    finite = sample[np.isfinite(sample)]
    lo, hi = np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0)
    mn, mx = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    window = {"min": mn, "max": mx, "start": float(lo), "end": float(hi)}
    return {
        "name": name,
        "channels": [{"label": name, "color": "FFFFFF", "window": window, "active": True}],
        "rdefs": {"model": "greyscale"},
    }


def _image_label(phases: Mapping[str, int]) -> dict:
    colors, props = [], []
    for i, (name, code) in enumerate(phases.items()):
        rgba = [int(round(255 * c)) for c in phase_color(name, i)] + [255]
        colors.append({"label-value": code, "rgba": rgba})
        props.append({"label-value": code, "name": name})
    return {"colors": colors, "properties": props, "source": {"image": "../../"}}


def write_ome_zarr(
    recon_path: str | os.PathLike[str],
    labels_path: str | os.PathLike[str] | None,
    out_path: str | os.PathLike[str],
    levels: int = 3,
) -> Path:
    """Write the reconstruction (and labels, if given) as a multiscale OME-Zarr, atomically.

    ``levels`` pyramid levels (fewer if the volume is too small), scales in
    micrometres from ``voxel_size_um`` (1.0 if absent). Labels become the label
    image ``labels/phases`` with the phase names and display colours.
    """
    recon = open_3d(recon_path, "reconstruction")
    labels = open_3d(labels_path, "labels") if labels_path is not None else None
    if labels is not None:
        check_same_shape(recon, labels, Path(recon_path), Path(labels_path))
    voxel = voxel_size_um(recon, labels) or 1.0
    n = _levels_for(tuple(recon.shape), levels)
    out_path = Path(out_path)
    name = out_path.name.removesuffix(".zarr").removesuffix(".ome")
    with atomic_output(out_path) as tmp:
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        _write_pyramid(root, recon, n, labels=False, what=str(recon_path))
        root.attrs["ome"] = {
            "version": NGFF_VERSION,
            "multiscales": _multiscales(name, n, voxel, "mean"),
            "omero": _omero(recon, name),
        }
        root.attrs["tomosnake"] = {
            "recon_attrs": volume_attrs(recon),
            "recon_path": str(recon_path),
            "labels_path": str(labels_path) if labels_path is not None else None,
        }
        if labels is not None:
            phases = phases_of(labels, labels_path)
            container = root.create_group("labels")
            container.attrs["ome"] = {"version": NGFF_VERSION, "labels": ["phases"]}
            lab_group = container.create_group("phases")
            _write_pyramid(lab_group, labels, n, labels=True, what=str(labels_path))
            lab_group.attrs["ome"] = {
                "version": NGFF_VERSION,
                "multiscales": _multiscales("phases", n, voxel, "nearest"),
                "image-label": _image_label(phases),
            }
    return out_path
