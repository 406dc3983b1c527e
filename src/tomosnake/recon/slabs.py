"""Slab-wise reconstruction of a prepared scan stored as zarr, and merging of slabs.

A prepared scan (``prep.zarr``, a RawScan written by :func:`tomosnake.io.write_raw_zarr`)
holds line integrals ``proj`` (angle, z, x), ``theta`` and the attribute ``center``.
Slices are independent, so the z range is cut into slabs: each slab reads only its
rows of ``proj`` and is reconstructed on its own (one Snakemake job per slab, or a
loop here), so memory depends on the slab size, not on the volume.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from tomosnake.errors import ConfigError, InputError
from tomosnake.io import atomic_output, create_volume, write_volume
from tomosnake.io.slabs import slab_range
from tomosnake.progress import track
from tomosnake.recon.api import reconstruct

PathLike = str | os.PathLike[str]


def _open_prepared(path: PathLike) -> tuple[Any, np.ndarray, dict[str, Any]]:
    p = Path(path)
    try:
        root = zarr.open_group(store=str(p), mode="r")
    except Exception as exc:
        raise InputError(f"{p}: not a readable prepared-scan zarr group ({exc})") from exc
    names = set(root.array_keys())
    if not {"proj", "theta"} <= names:
        raise InputError(f"{p}: needs arrays 'proj' and 'theta', found {sorted(names)}")
    proj = root["proj"]
    if proj.ndim != 3:
        raise InputError(f"{p}/proj: expected 3-D (angle, z, x), got shape {proj.shape}")
    return proj, np.asarray(root["theta"][...], dtype=np.float64), dict(root.attrs)


def _params(attrs: Mapping[str, Any], params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    params = dict(params)
    center = params.pop("center", None)
    if center is None:
        center = attrs.get("center")
    return center, params


def read_rows(proj: Any, z0: int, z1: int) -> np.ndarray:
    """Rows z0:z1 of a zarr (angle, z, x) array, reading one chunk of angles at a time.

    Chunks may span every row, so reading them one by one (not all at once, as a
    single zarr read would) keeps memory at one chunk plus the slab.
    """
    step = proj.chunks[0] if hasattr(proj, "chunks") else proj.shape[0]
    out = np.empty((proj.shape[0], z1 - z0, proj.shape[2]), dtype=np.float32)
    for a0 in range(0, proj.shape[0], step):
        out[a0 : a0 + step] = proj[a0 : a0 + step, z0:z1]
    return out


def _recon_rows(proj: Any, theta: np.ndarray, center: Any, z0: int, z1: int,
                params: dict[str, Any], crop: int | None = None) -> np.ndarray:
    c = center
    if c is not None and np.ndim(c) == 1:
        c = np.asarray(c, dtype=np.float64)[z0:z1]
    rec = reconstruct(read_rows(proj, z0, z1), theta, c, **params)
    return crop_center(rec, crop)


def crop_center(vol: np.ndarray, crop: int | None) -> np.ndarray:
    """The central ``crop`` x ``crop`` pixels of (z, n, n) slices (the axis is at their centre)."""
    if not crop:
        return vol
    n = vol.shape[-1]
    if not 0 < crop <= n:
        raise ConfigError(f"crop {crop} must be in 1..{n} (the reconstruction width)")
    c = (n - crop) // 2
    return vol[..., c : c + crop, c : c + crop]


def recon_attrs(scan_attrs: Mapping[str, Any], theta: np.ndarray, center: Any,
                params: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes of a reconstructed volume (see the shared conventions)."""
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
    }


def reconstruct_slab(prep_path: PathLike, out_path: PathLike, slab: int, n_slabs: int,
                     crop: int | None = None, attrs: Mapping[str, Any] | None = None,
                     **params: Any) -> Path:
    """Reconstruct slab ``slab`` of ``n_slabs`` of a prepared scan into its own zarr store.

    Args:
        prep_path: prepared scan (zarr group: ``proj`` line integrals, ``theta``, attr ``center``).
        out_path: zarr array store written atomically: float32 (z1 - z0, n, n) with attrs
            ``z0``, ``z1``, ``n_rows`` (total) and the reconstruction attributes.
        slab, n_slabs: which slab (0-based) of how many equal row ranges.
        crop: keep the central ``crop`` x ``crop`` pixels around the axis (None: all).
        attrs: extra attributes for the store (e.g. input fingerprints).
        **params: passed to :func:`reconstruct` (``algorithm``, ``filter_name``, ``device``...);
            ``center`` overrides the stored centre.
    """
    proj, theta, scan_attrs = _open_prepared(prep_path)
    center, params = _params(scan_attrs, params)
    z0, z1 = slab_range(proj.shape[1], slab, n_slabs)
    rec = _recon_rows(proj, theta, center, z0, z1, params, crop)
    meta = recon_attrs(scan_attrs, theta, center, params) | {
        "z0": z0, "z1": z1, "n_rows": proj.shape[1], "crop": crop,
        "detector_width": proj.shape[2], **(attrs or {})
    }
    return write_volume(out_path, rec, meta, chunks=(max(1, min(8, rec.shape[0])), *rec.shape[1:]))


def reconstruct_store(prep_path: PathLike, out_path: PathLike, slab_rows: int = 32,
                      crop: int | None = None, **params: Any) -> Path:
    """Reconstruct a whole prepared scan slab by slab into ``out_path`` (recon.zarr).

    Only ``slab_rows`` rows of projections and slices are in memory at a time.
    """
    if slab_rows < 1:
        raise ConfigError(f"slab_rows must be >= 1, got {slab_rows}")
    proj, theta, attrs = _open_prepared(prep_path)
    center, params = _params(attrs, params)
    n_ang, nz, n_det = proj.shape
    n = crop or n_det
    meta = recon_attrs(attrs, theta, center, params) | {"crop": crop, "detector_width": n_det}
    out = Path(out_path)
    starts = range(0, nz, slab_rows)
    with atomic_output(out) as tmp:
        arr = create_volume(tmp, (nz, n, n), "float32", meta, chunks=(min(slab_rows, nz), n, n))
        for z0 in track(starts, "reconstructing slabs"):
            z1 = min(nz, z0 + slab_rows)
            arr[z0:z1] = _recon_rows(proj, theta, center, z0, z1, params, crop)
    return out
