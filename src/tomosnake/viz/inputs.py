"""Reading the per-scan stores the figures, meshes and report are made from.

Volumes are (z, y, x). The voxel size is in micrometres (``voxel_size_um`` attribute).
Label stores carry ``phases`` = {name: code}; the workflow's canonical codes are
pore = 0, cbd = 1, nmc = 2.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tomosnake.errors import InputError
from tomosnake.io import open_volume, volume_attrs
from tomosnake.phases import PHASES
from tomosnake.viz.style import phase_color  # noqa: F401  (omezarr.py imports it from here)

#: phases assumed when a label store carries no ``phases`` attribute
DEFAULT_PHASES: dict[str, int] = PHASES

#: QC keys looked up in reconstruction attributes (top level or any nested dict)
QC_KEYS = (
    "center",
    "ring_metric_before",
    "ring_metric_after",
    "noise_sigma",
    "center_method",
    "theta_range_deg",
    "half_acquisition",
)


def open_3d(path: str | os.PathLike[str], what: str):
    """Open a (z, y, x) volume lazily; raise :class:`InputError` unless it is 3-D."""
    vol = open_volume(path)
    if len(vol.shape) != 3:
        raise InputError(f"{path}: {what} must be a 3-D (z, y, x) volume, got shape {vol.shape}")
    return vol


def voxel_size_um(*vols: Any) -> float | None:
    """The first positive ``voxel_size_um`` attribute among ``vols`` (None if none has one)."""
    for vol in vols:
        value = positive(volume_attrs(vol).get("voxel_size_um")) if vol is not None else None
        if value is not None:
            return value
    return None


def phases_of(labels: Any, path: str | os.PathLike[str] = "labels") -> dict[str, int]:
    """Phase name -> label code from a label store's ``phases`` attribute, sorted by code."""
    return parse_phases(volume_attrs(labels), path)


def parse_phases(attrs: Mapping[str, Any], path: str | os.PathLike[str]) -> dict[str, int]:
    """Phase name -> code from ``attrs["phases"]`` (default pore 0, cbd 1, nmc 2), by code."""
    phases = attrs.get("phases", DEFAULT_PHASES)
    if not isinstance(phases, Mapping) or not all(
        isinstance(v, int) and 0 <= v < 256 for v in phases.values()
    ):
        raise InputError(
            f"{path}: attribute 'phases' must map names to uint8 codes, got {phases!r}"
        )
    return {str(k): int(v) for k, v in sorted(phases.items(), key=lambda kv: kv[1])}


def positive(value: Any) -> float | None:
    """``value`` as a float if it is a finite positive number, else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value > 0 and np.isfinite(value):
            return float(value)
    return None


def find_qc(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Collect QC numbers (:data:`QC_KEYS`) from ``attrs`` and the dicts nested in it.

    Top-level values win over nested ones, so ``attrs["center"]`` beats
    ``attrs["preprocess"]["center"]``.
    """
    found: dict[str, Any] = {}

    def visit(node: Mapping[str, Any], depth: int) -> None:
        for key in QC_KEYS:
            if key in node and key not in found and not isinstance(node[key], Mapping):
                found[key] = node[key]
        if depth < 4:
            for value in node.values():
                if isinstance(value, Mapping):
                    visit(value, depth + 1)

    visit(attrs, 0)
    return found


def check_same_shape(recon: Any, labels: Any, recon_path: Path, labels_path: Path) -> None:
    """Raise :class:`InputError` unless the reconstruction and labels have equal shapes."""
    if tuple(recon.shape) != tuple(labels.shape):
        raise InputError(
            f"{labels_path}: labels have shape {tuple(labels.shape)} but the reconstruction "
            f"{recon_path} has {tuple(recon.shape)}; they must match voxel for voxel"
        )


def sample_planes(vol: Any, n: int = 12, max_voxels: int = 2**22) -> np.ndarray:
    """Up to ``n`` evenly spaced z-planes of ``vol`` as one (k, y', x') array.

    Planes are strided in y and x (the same stride for every volume of this shape) so
    that at most about ``max_voxels`` voxels are read into memory, whatever the volume size.
    """
    idx = np.unique(np.linspace(0, vol.shape[0] - 1, min(n, vol.shape[0])).round().astype(int))
    step = plane_stride(vol.shape, len(idx), max_voxels)
    return np.stack([np.asarray(vol[int(i), ::step, ::step]) for i in idx])


def plane_stride(shape: tuple[int, ...], n_planes: int, max_voxels: int) -> int:
    """Stride in y and x that keeps ``n_planes`` planes of ``shape`` under ``max_voxels``."""
    per_plane = max(max_voxels // max(n_planes, 1), 1)
    return max(1, int(np.ceil(np.sqrt(shape[-2] * shape[-1] / per_plane))))


def open_level(
    source: str | os.PathLike[str] | Any, what: str
) -> tuple[Any, dict[str, Any], str]:
    """A (z, y, x) volume (path or array), its attributes, and a name for messages.

    For a level ``k`` of an OME-Zarr pyramid (``scan.ome.zarr/labels/phases/1``), whose
    array carries no attributes, they are level 0's (its sibling ``0``) with
    ``voxel_size_um`` times ``2**k`` and ``level0_shape``; without a level 0,
    ``voxel_size_um`` comes from the
    parent group's multiscales ``scale`` of that level and ``phases`` from its
    ``image-label`` properties.
    """
    if isinstance(source, str | os.PathLike):
        vol, name = open_3d(source, what), str(source)
    else:
        vol, name = source, f"{what} array"
        if len(vol.shape) != 3:
            raise InputError(f"{name} must be a 3-D (z, y, x) volume, got shape {vol.shape}")
    attrs = volume_attrs(vol)
    if isinstance(source, str | os.PathLike) and not attrs:
        attrs = _ome_level_attrs(Path(source))
    return vol, attrs, name


def _ome_level_attrs(path: Path) -> dict[str, Any]:
    import zarr

    level0 = path.parent / "0"
    if path.name.isdigit() and path.name != "0" and level0.is_dir():
        vol0 = open_3d(level0, "pyramid level 0")
        attrs = volume_attrs(vol0)
        voxel = positive(attrs.get("voxel_size_um"))
        if voxel is not None:
            attrs["voxel_size_um"] = voxel * 2 ** int(path.name)
        if attrs:
            return {**attrs, "level0_shape": [int(n) for n in vol0.shape]}
    try:
        ome = zarr.open_group(str(path.parent), mode="r").attrs.get("ome", {})
    except Exception:  # not inside a zarr group: a plain store without attributes
        return {}
    out: dict[str, Any] = {}
    for ms in ome.get("multiscales", [])[:1]:
        for ds in ms.get("datasets", []):
            if ds.get("path") == path.name:
                scale = ds["coordinateTransformations"][0]["scale"]
                out["voxel_size_um"] = float(scale[-1])
    props = ome.get("image-label", {}).get("properties")
    if props:
        out["phases"] = {p["name"]: int(p["label-value"]) for p in props}
    return out


def z_slabs(nz: int, plane_bytes: int, budget_bytes: int = 256 * 2**20) -> list[tuple[int, int]]:
    """Split ``range(nz)`` into (start, stop) slabs of at most ``budget_bytes`` each."""
    from tomosnake.layout import slab_ranges

    return slab_ranges(nz, max(1, budget_bytes // max(plane_bytes, 1)))
