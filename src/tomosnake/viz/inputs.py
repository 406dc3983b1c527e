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

#: phases assumed when a label store carries no ``phases`` attribute
DEFAULT_PHASES: dict[str, int] = {"pore": 0, "cbd": 1, "nmc": 2}

#: display colour (RGB, 0..1) per canonical phase name; other phases cycle through tab10
PHASE_COLORS: dict[str, tuple[float, float, float]] = {
    "pore": (0.27, 0.51, 0.85),
    "cbd": (0.95, 0.62, 0.15),
    "nmc": (0.80, 0.20, 0.25),
}

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
        value = volume_attrs(vol).get("voxel_size_um") if vol is not None else None
        if isinstance(value, int | float) and value > 0 and np.isfinite(value):
            return float(value)
    return None


def phases_of(labels: Any, path: str | os.PathLike[str] = "labels") -> dict[str, int]:
    """Phase name -> label code from a label store's ``phases`` attribute, sorted by code."""
    phases = volume_attrs(labels).get("phases", DEFAULT_PHASES)
    if not isinstance(phases, Mapping) or not all(
        isinstance(v, int) and 0 <= v < 256 for v in phases.values()
    ):
        raise InputError(
            f"{path}: attribute 'phases' must map names to uint8 codes, got {phases!r}"
        )
    return {str(k): int(v) for k, v in sorted(phases.items(), key=lambda kv: kv[1])}


def phase_color(name: str, index: int) -> tuple[float, float, float]:
    """Display colour of a phase: fixed for pore/cbd/nmc, tab10 otherwise."""
    if name in PHASE_COLORS:
        return PHASE_COLORS[name]
    import matplotlib

    return tuple(matplotlib.colormaps["tab10"](index % 10)[:3])


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


def sample_planes(vol: Any, n: int = 12) -> np.ndarray:
    """Up to ``n`` evenly spaced z-planes of ``vol`` as one (k, y, x) array (bounded memory)."""
    idx = np.unique(np.linspace(0, vol.shape[0] - 1, min(n, vol.shape[0])).round().astype(int))
    return np.stack([np.asarray(vol[int(i)]) for i in idx])


def z_slabs(nz: int, plane_bytes: int, budget_bytes: int = 256 * 2**20) -> list[tuple[int, int]]:
    """Split ``range(nz)`` into (start, stop) slabs of at most ``budget_bytes`` each."""
    step = max(1, budget_bytes // max(plane_bytes, 1))
    return [(z, min(z + step, nz)) for z in range(0, nz, step)]
