"""Multiscale OME-Zarr (NGFF v0.5, zarr v3) of a reconstruction and its labels, for napari.

Layout (a zarr v3 group)::

    scan.ome.zarr/            multiscales image: arrays 0, 1, ... (z, y, x) float32
        labels/               {"ome": {"labels": ["phases"]}}
            phases/           multiscales label image 0, 1, ... uint8, with colours and names

In the workflow, level 0 of the image and of the labels are the reconstruction and the
segmentation themselves (the recon and segment merges link their slabs there), so the
volume is stored once; :func:`write_pyramid` then adds the coarser levels and the group
metadata. :func:`write_ome_zarr` builds the same from two volume stores (a copy of level 0).

Level k is level k-1 downsampled by 2 on every axis (2x2x2 block mean for grey values, the
first voxel of each block for labels; odd tails dropped), written ``ROW_CHUNK`` planes deep
and made from twice as many planes of level k-1 at a time: memory holds a few planes, and
every level is read once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tomosnake import sketch
from tomosnake.errors import ConfigError
from tomosnake.io import atomic_output, create_volume, volume_attrs
from tomosnake.layout import PLANE_CHUNK, ROW_CHUNK
from tomosnake.progress import track
from tomosnake.viz.inputs import check_same_shape, open_3d, phase_color, phases_of, sample_planes

NGFF_VERSION = "0.5"
AXIS_NAMES = ("z", "y", "x")
AXES = [{"name": n, "type": "space", "unit": "micrometer"} for n in AXIS_NAMES]
LABEL_PATH = "labels/phases"


def level_chunks(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Chunks (z, y, x) of every pyramid level: ROW_CHUNK planes of PLANE_CHUNK^2 pixels (the
    chunks the recon jobs write level 0 with)."""
    return (min(ROW_CHUNK, shape[0]), min(PLANE_CHUNK, shape[1]), min(PLANE_CHUNK, shape[2]))


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
            "metadata": {"description": f"level k = level k-1 downsampled by 2 ({method})"},
        }
    ]


def _halve(block: np.ndarray, labels: bool) -> np.ndarray:
    """Downsample a (z, y, x) block by 2 per axis: first voxel (labels) or 2x2x2 mean."""
    nz, ny, nx = (s - s % 2 for s in block.shape)
    block = block[:nz, :ny, :nx]
    if labels:
        return np.ascontiguousarray(block[::2, ::2, ::2])
    blocks = block.reshape(nz // 2, 2, ny // 2, 2, nx // 2, 2)
    return blocks.mean(axis=(1, 3, 5), dtype=block.dtype)


def write_level(src: Any, out: str | os.PathLike[str], labels: bool = False) -> Path:
    """Write the next pyramid level of ``src`` (a level's path or array) at ``out``, atomically.

    Grey values: 2x2x2 block means; labels: the first voxel of each block.
    """
    out = Path(out)
    what = str(src) if isinstance(src, str | os.PathLike) else "volume"
    if isinstance(src, str | os.PathLike):
        src = open_3d(src, "labels" if labels else "reconstruction")
    shape = tuple(s // 2 for s in src.shape)
    if min(shape) < 1:
        raise ConfigError(f"{what}: level of shape {src.shape} is too small to halve")
    with atomic_output(out) as tmp:
        arr = create_volume(tmp, shape, src.dtype, chunks=level_chunks(shape),
                            dimension_names=AXIS_NAMES)
        step = arr.chunks[0]
        for z in track(range(0, shape[0], step), f"pyramid level {out.name} of {what}"):
            z1 = min(z + step, shape[0])
            arr[z:z1] = _halve(np.asarray(src[2 * z : 2 * z1]), labels)[: z1 - z, : shape[1],
                                                                          : shape[2]]
    return out


def _write_group(path: Path, attrs: Mapping[str, Any]) -> None:
    """A zarr v3 group's ``zarr.json`` (only the metadata document), written atomically."""
    import json

    doc = {"zarr_format": 3, "node_type": "group", "attributes": dict(attrs)}
    path.mkdir(parents=True, exist_ok=True)
    with atomic_output(path / "zarr.json") as tmp:
        Path(tmp).write_text(json.dumps(doc, indent=2, allow_nan=False))


def _omero(image: Any, attrs: Mapping[str, Any], name: str) -> dict:
    sk = attrs.get("sketch") or sketch.sketch(sample_planes(image, 8))
    if sk.get("count"):
        lo, hi = sketch.percentile(sk, 0.5), sketch.percentile(sk, 99.5)
        mn, mx = sk["quantiles"][0], sk["quantiles"][-1]
    else:
        lo = mn = 0.0
        hi = mx = 1.0
    window = {"min": mn, "max": mx, "start": lo, "end": hi}
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


def write_metadata(root: str | os.PathLike[str], levels: int, name: str | None = None) -> Path:
    """Write the NGFF group documents of an OME-Zarr whose levels 0..levels-1 exist.

    ``root/0`` is the image (float32, attributes ``voxel_size_um`` and the grey-value
    ``sketch``); ``root/labels/phases/0``, if present, the labels (uint8, attribute
    ``phases``). The root document is written last, so a reader never finds a group that
    lists a level not yet written.
    """
    root = Path(root)
    if levels < 1:
        raise ConfigError(f"pyramid levels must be at least 1, got {levels}")
    image = open_3d(root / "0", "reconstruction")
    attrs = volume_attrs(image)
    voxel = float(attrs.get("voxel_size_um") or 1.0)
    name = name or root.name.removesuffix(".zarr").removesuffix(".ome")
    label_dir = root / LABEL_PATH
    labels = open_3d(label_dir / "0", "labels") if (label_dir / "0").exists() else None
    if labels is not None:
        check_same_shape(image, labels, root / "0", label_dir / "0")
        phases = phases_of(labels, label_dir / "0")
        _write_group(label_dir, {"ome": {"version": NGFF_VERSION,
                                         "multiscales": _multiscales("phases", levels, voxel,
                                                                     "nearest"),
                                         "image-label": _image_label(phases)}})
        _write_group(root / "labels", {"ome": {"version": NGFF_VERSION, "labels": ["phases"]}})
    _write_group(root, {"ome": {"version": NGFF_VERSION,
                                "multiscales": _multiscales(name, levels, voxel, "mean"),
                                "omero": _omero(image, attrs, name)}})
    return root


def write_pyramid(root: str | os.PathLike[str], levels: int, name: str | None = None) -> Path:
    """Add levels 1..levels-1 (image, and labels if present) and the group documents to an
    OME-Zarr whose level 0 exists (see :func:`write_metadata`)."""
    root = Path(root)
    for base, is_label in ((root, False), (root / LABEL_PATH, True)):
        if (base / "0").exists():
            for k in range(1, levels):
                write_level(base / str(k - 1), base / str(k), labels=is_label)
    return write_metadata(root, levels, name)


def _copy(src: Any, out: Path) -> None:
    with atomic_output(out) as tmp:
        arr = create_volume(tmp, tuple(src.shape), src.dtype, volume_attrs(src),
                            chunks=level_chunks(tuple(src.shape)), dimension_names=AXIS_NAMES)
        for z in track(range(0, src.shape[0], arr.chunks[0]), f"copying {out}"):
            arr[z : z + arr.chunks[0]] = np.asarray(src[z : z + arr.chunks[0]])


def write_ome_zarr(
    recon_path: str | os.PathLike[str],
    labels_path: str | os.PathLike[str] | None,
    out_path: str | os.PathLike[str],
    levels: int = 3,
) -> Path:
    """Write a reconstruction (and labels, if given) as a multiscale OME-Zarr, atomically.

    Level 0 is a copy of the stores (the workflow links them instead); ``levels`` is
    reduced when the volume is too small to halve that often.
    """
    from tomosnake.layout import pyramid_levels

    recon = open_3d(recon_path, "reconstruction")
    labels = open_3d(labels_path, "labels") if labels_path is not None else None
    if labels is not None:
        check_same_shape(recon, labels, Path(recon_path), Path(labels_path))
        phases_of(labels, labels_path)
    if levels < 1:
        raise ConfigError(f"levels must be at least 1, got {levels}")
    n = min(levels, pyramid_levels(tuple(recon.shape), min_size=1))
    out_path = Path(out_path)
    with atomic_output(out_path) as tmp:
        _copy(recon, tmp / "0")
        if labels is not None:
            _copy(labels, tmp / LABEL_PATH / "0")
        write_pyramid(tmp, n, out_path.name.removesuffix(".zarr").removesuffix(".ome"))
    return out_path

