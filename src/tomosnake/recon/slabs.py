"""Reconstructing a prepared scan slab by slab: rows of every angle in, slices out.

A prepared scan (``prep.zarr``: a zarr group with ``proj`` float32 line integrals
(angle, z, x), ``theta`` radians, and the scan metadata as attributes) is read a slab of
rows at a time: slices are independent, so memory follows the slab, not the scan. The
workflow's recon jobs each own one slab (:mod:`tomosnake.pipeline`); here
:func:`reconstruct_store` loops over slabs in one process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from tomosnake.errors import ConfigError, InputError
from tomosnake.io import atomic_output, create_volume
from tomosnake.io.volume import read_zarr
from tomosnake.progress import track
from tomosnake.recon.api import reconstruct

PathLike = str | os.PathLike[str]


def open_prepared(path: PathLike) -> tuple[zarr.Array, np.ndarray, dict[str, Any]]:
    """``proj`` (lazy), ``theta`` and the attributes of a prepared-scan zarr group."""
    p = Path(path)
    try:
        root = zarr.open_group(store=str(p), mode="r")
        names = set(root.array_keys())
    except Exception as exc:
        raise InputError(f"{p}: not a readable prepared-scan zarr group ({exc})") from exc
    if not {"proj", "theta"} <= names:
        raise InputError(f"{p}: needs arrays 'proj' and 'theta', found {sorted(names)}")
    proj = root["proj"]
    if proj.ndim != 3:
        raise InputError(f"{p}/proj: expected 3-D (angle, z, x), got shape {proj.shape}")
    theta = np.asarray(root["theta"][...], dtype=np.float64)
    if theta.shape != (proj.shape[0],):
        raise InputError(f"{p}: {theta.size} angles but {proj.shape[0]} projections")
    return proj, theta, dict(root.attrs)


def read_rows(proj: zarr.Array, z0: int, z1: int, where: str) -> np.ndarray:
    """Rows ``z0:z1`` of every angle, float32 (angle, z1 - z0, x); reads only their chunks."""
    return np.asarray(read_zarr(proj, where, (slice(None), slice(z0, z1))), dtype=np.float32)


def crop_center(vol: np.ndarray, crop: int | None) -> np.ndarray:
    """The central ``crop`` x ``crop`` pixels of (z, n, n) slices (the axis is at their centre)."""
    if not crop:
        return vol
    n = vol.shape[-1]
    if not 0 < crop <= n:
        raise ConfigError(f"recon.crop {crop} must be in 1..{n} (the reconstruction width)")
    c = (n - crop) // 2
    return vol[..., c : c + crop, c : c + crop]


def reconstruct_rows(rows: np.ndarray, theta: np.ndarray, centers: Any, crop: int | None = None,
                     **params: Any) -> np.ndarray:
    """Slices (z, n, n) float32 of sinogram rows (angle, z, x): :func:`reconstruct`, cropped.

    ``centers``: one centre or one per row (tomopy convention); ``params`` go to
    :func:`~tomosnake.recon.api.reconstruct` (``algorithm``, ``filter_name``, ``device``...).
    """
    return np.ascontiguousarray(crop_center(reconstruct(rows, theta, centers, **params), crop))


def recon_attrs(scan_attrs: Mapping[str, Any], theta: np.ndarray, center: Any,
                params: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes of a reconstructed volume (see the README's conventions)."""
    span = float(np.degrees(np.ptp(theta))) if theta.size else 0.0
    if theta.size > 1:
        span += float(np.degrees(np.median(np.abs(np.diff(theta)))))
    return {
        "voxel_size_um": scan_attrs.get("pixel_size_um"),
        "center": center,
        "algorithm": params.get("algorithm", "gridrec"),
        "filter": params.get("filter_name", "shepp"),
        "theta_range_deg": round(span, 6),
        "source": scan_attrs.get("source"),
        "units": "attenuation per voxel length (1/voxel)",
    }


def reconstruct_store(prep_path: PathLike, out_path: PathLike, slab_rows: int = 32,
                      crop: int | None = None, **params: Any) -> Path:
    """Reconstruct a whole prepared scan slab by slab into ``out_path`` (a volume store).

    The prepared scan must be cleaned and centred (attribute ``center``, one value or one
    per row, unless ``center`` is passed). Only ``slab_rows`` rows are in memory at a time.
    """
    if slab_rows < 1:
        raise ConfigError(f"slab_rows must be >= 1, got {slab_rows}")
    proj, theta, attrs = open_prepared(prep_path)
    params = dict(params)
    center = params.pop("center", None)
    center = attrs.get("center") if center is None else center
    n_ang, nz, n_det = proj.shape
    n = crop or n_det
    per_row = np.ndim(center) == 1
    meta = recon_attrs(attrs, theta, center, params) | {"crop": crop, "detector_width": n_det}
    out = Path(out_path)
    with atomic_output(out) as tmp:
        arr = create_volume(tmp, (nz, n, n), "float32", meta, chunks=(min(slab_rows, nz), n, n))
        for z0 in track(range(0, nz, slab_rows), "reconstructing slabs"):
            z1 = min(nz, z0 + slab_rows)
            c = np.asarray(center, dtype=np.float64)[z0:z1] if per_row else center
            arr[z0:z1] = reconstruct_rows(read_rows(proj, z0, z1, f"{prep_path}/proj"), theta, c,
                                          crop, **params)
    return out
