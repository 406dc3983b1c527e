"""Multiscale OME-Zarr (NGFF v0.5, zarr v3) of a reconstruction and its labels, for napari.

Layout (``out_path`` is a zarr v3 group)::

    scan.ome.zarr/            multiscales image "recon": arrays 0, 1, ... (z, y, x) float32
        labels/               {"ome": {"labels": ["phases"]}}
            phases/           multiscales label image, uint8, with "image-label" colours/names

Level k is the full-resolution volume downsampled by 2**k on every axis (block
mean for grey values, nearest sample for labels); its ``scale`` metadata is the
voxel size times 2**k in micrometres. Levels are built chunk by chunk with dask,
so memory stays bounded whatever the volume size.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr

from tomosnake.errors import ConfigError
from tomosnake.io import atomic_output, volume_attrs
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
#: chunk edge (voxels) of every pyramid level
CHUNK = 128


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


def _create(group: zarr.Group, path: str, shape: tuple[int, ...], dtype: Any) -> zarr.Array:
    return group.create_array(
        path,
        shape=shape,
        dtype=dtype,
        chunks=tuple(min(s, CHUNK) for s in shape),
        dimension_names=("z", "y", "x"),
        fill_value=0,
    )


def _write_pyramid(group: zarr.Group, source: Any, n_levels: int, labels: bool) -> list[tuple]:
    """Write levels 0..n_levels-1 of ``source`` into ``group``; return their shapes."""
    shapes = []
    level = da.from_zarr(source) if isinstance(source, zarr.Array) else da.from_array(source)
    for k in range(n_levels):
        if k:
            prev = da.from_zarr(group[str(k - 1)])
            even = tuple(s - s % 2 for s in prev.shape)  # odd tails dropped: shapes agree
            prev = prev[: even[0], : even[1], : even[2]]
            if labels:
                level = prev[::2, ::2, ::2]
            else:
                level = da.coarsen(np.mean, prev.rechunk(CHUNK), {0: 2, 1: 2, 2: 2})
                level = level.astype(prev.dtype)
        target = _create(group, str(k), level.shape, level.dtype)
        da.store(level.rechunk(target.chunks), target, lock=False)
        shapes.append(level.shape)
    return shapes


def _levels_for(shape: tuple[int, ...], levels: int) -> int:
    """Requested levels, fewer if a level would have an axis shorter than 2 voxels."""
    if levels < 1:
        raise ConfigError(f"levels must be at least 1, got {levels}")
    fit = 1
    while fit < levels and min(shape) // 2**fit >= 2:
        fit += 1
    return fit


def _omero(recon: Any, name: str) -> dict:
    sample = sample_planes(recon, 8)
    finite = sample[np.isfinite(sample)]
    lo, hi = (np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0))
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
        _write_pyramid(root, recon, n, labels=False)
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
            _write_pyramid(lab_group, labels, n, labels=True)
            lab_group.attrs["ome"] = {
                "version": NGFF_VERSION,
                "multiscales": _multiscales("phases", n, voxel, "nearest"),
                "image-label": _image_label(phases),
            }
    return out_path
