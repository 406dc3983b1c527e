"""The raw scan in memory and in the ingested ``raw.zarr`` store.

``raw.zarr`` is a zarr v3 group with arrays ``proj`` (angle, z, x), ``flat``
(n_flat, z, x), ``dark`` (n_dark, z, x) in the detector's dtype, and ``theta``
(angle,) in radians; scan metadata (source file, format, pixel size in
micrometres, energy in keV, ...) are the group's attributes, with
``theta_first_last_deg`` ([first, last] angle in degrees), ``n_proj``, ``n_flat`` and
``n_dark`` added.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from tomosnake.errors import InputError
from tomosnake.io.volume import (
    _jsonable,
    atomic_output,
    check_zarr_array,
    default_chunks,
    read_zarr,
)


@dataclass
class RawScan:
    """Projections with their flat and dark fields and angles.

    Attributes:
        proj: projections, (angle, z, x), detector counts.
        theta: rotation angle of each projection, radians, shape (angle,).
        flat: flat (white) fields, (n_flat, z, x), or None if the data are normalised.
        dark: dark fields, (n_dark, z, x), or None.
        meta: scan metadata: ``source``, ``format``, ``pixel_size_um``, ``energy_kev``...
    """

    proj: np.ndarray
    theta: np.ndarray
    flat: np.ndarray | None = None
    dark: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        src = self.meta.get("source", "scan")
        if self.proj.ndim != 3:
            raise InputError(
                f"{src}: projections must be 3-D (angle, z, x), got shape {self.proj.shape}"
            )
        self.theta = np.asarray(self.theta, dtype=np.float64).ravel()
        if self.theta.size != self.proj.shape[0]:
            raise InputError(
                f"{src}: {self.theta.size} angles but {self.proj.shape[0]} projections"
            )
        for name in ("flat", "dark"):
            f = getattr(self, name)
            if f is None:
                continue
            if f.ndim == 2:
                f = f[None]
                setattr(self, name, f)
            if f.ndim != 3 or f.shape[1:] != self.proj.shape[1:]:
                raise InputError(
                    f"{src}: {name} fields have shape {f.shape}, expected "
                    f"(n, {self.proj.shape[1]}, {self.proj.shape[2]}) like the projections"
                )


def write_raw_zarr(scan: RawScan, path: str | os.PathLike[str]) -> Path:
    """Write ``scan`` to a ``raw.zarr`` group atomically (metadata as group attributes)."""
    path = Path(path)
    with atomic_output(path) as tmp:
        root = zarr.open_group(store=str(tmp), mode="w", zarr_format=3)
        for name in ("proj", "flat", "dark"):
            data = getattr(scan, name)
            if data is None:
                continue
            data = np.asarray(data)
            chunks = data.shape
            if name == "proj":
                chunks = default_chunks(data.shape, itemsize=data.dtype.itemsize)
            arr = root.create_array(name, shape=data.shape, dtype=data.dtype, chunks=chunks)
            arr[...] = data
        th = root.create_array("theta", shape=scan.theta.shape, dtype="float64")
        th[...] = scan.theta
        attrs = {k: None for k in ("source", "format", "pixel_size_um", "energy_kev", "distance_m")}
        attrs.update(scan.meta)
        attrs.update(
            theta_first_last_deg=[float(np.rad2deg(t)) for t in scan.theta[[0, -1]]]
            if scan.theta.size
            else [],
            n_proj=int(scan.proj.shape[0]),
            n_flat=0 if scan.flat is None else int(scan.flat.shape[0]),
            n_dark=0 if scan.dark is None else int(scan.dark.shape[0]),
        )
        root.attrs.update(_jsonable(attrs))
    return path


def read_raw_zarr(path: str | os.PathLike[str]) -> RawScan:
    """Read a ``raw.zarr`` group written by :func:`write_raw_zarr`.

    Raises InputError naming the store and array when it is missing, lacks arrays,
    or has missing or corrupt chunks.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such raw.zarr store")
    try:
        root = zarr.open_group(store=str(p), mode="r")
        names = set(root.array_keys())
    except Exception as exc:
        raise InputError(f"{p}: not a readable raw.zarr group ({exc})") from exc
    if not {"proj", "theta"} <= names:
        raise InputError(
            f"{p}: raw.zarr must hold arrays 'proj' and 'theta', found {sorted(names)}"
        )
    data = {}
    for name in ("proj", "theta", "flat", "dark"):
        if name not in names:
            data[name] = None
            continue
        arr = root[name]
        check_zarr_array(arr, f"{p}/{name}")
        data[name] = read_zarr(arr, f"{p}/{name}")
    return RawScan(
        proj=data["proj"],
        theta=data["theta"],
        flat=data["flat"],
        dark=data["dark"],
        meta=dict(root.attrs),
    )
