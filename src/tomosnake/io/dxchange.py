"""DXchange HDF5 scans (APS, tomopy/dxchange): read and write.

Layout (https://dxchange.readthedocs.io, "DXfile"):

- ``/exchange/data`` projections (angle, z, x), required;
- ``/exchange/data_white`` flat fields (n, z, x) and ``/exchange/data_dark`` dark
  fields (n, z, x), optional: a file without them gives ``flat``/``dark`` None and a
  warning (flat-field normalisation later needs flats unless the projections are
  already normalised);
- ``/exchange/theta`` rotation angles, required. tomopy/dxchange files store them
  in degrees, some in radians: the ``units`` attribute decides when present,
  otherwise the values (see :mod:`tomosnake.io.validate`); ``theta_unit`` overrides;
- metadata where present: effective pixel size
  ``/measurement/instrument/detection_system/objective/resolution`` (else
  ``/measurement/instrument/detector/pixel_size_x``), beam energy
  ``/measurement/instrument/monochromator/energy``, sample-detector distance
  ``/measurement/instrument/detector/distance``, each converted by its ``units``
  attribute (defaults: um, keV, mm).

:func:`write_dxchange` writes this layout with angles in degrees (``units="deg"``)
and the scan's other metadata as JSON in the root attribute ``tomosnake_meta``;
:func:`read_dxchange` reads it back: pixel data exactly, angles to rounding
(radians -> degrees -> radians, < 1e-15 rad).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tomosnake.errors import InputError
from tomosnake.io.hdf5util import (
    attr_str,
    energy_kev,
    length_m,
    length_um,
    open_hdf5,
    read_dataset,
    scalar,
)
from tomosnake.io.rawscan import RawScan
from tomosnake.io.validate import angles_to_radians, require_finite, require_frames
from tomosnake.io.volume import _jsonable, atomic_output

DATA, FLAT, DARK, THETA = (
    "/exchange/data",
    "/exchange/data_white",
    "/exchange/data_dark",
    "/exchange/theta",
)
PIXEL_SIZE = "/measurement/instrument/detection_system/objective/resolution"
PIXEL_SIZE_ALT = "/measurement/instrument/detector/pixel_size_x"
ENERGY = "/measurement/instrument/monochromator/energy"
DISTANCE = "/measurement/instrument/detector/distance"
META_ATTR = "tomosnake_meta"
#: metadata keys with their own datasets (not copied into the JSON attribute)
_OWN_KEYS = ("source", "format", "pixel_size_um", "energy_kev", "distance_m")


def is_dxchange(fh: h5py.File) -> bool:
    """True if an open HDF5 file has an ``/exchange/data`` entry."""
    return "exchange" in fh and "data" in fh["exchange"]


def read_dxchange(path: str | os.PathLike[str], theta_unit: str = "auto") -> RawScan:
    """Read a DXchange file.

    Args:
        path: the ``.h5`` file.
        theta_unit: ``"auto"``, ``"deg"`` or ``"rad"`` for ``/exchange/theta``.

    Returns:
        RawScan with proj (angle, z, x) in the file's dtype, theta in radians, flat and
        dark (n, z, x) or None, meta with source, format="dxchange", pixel_size_um,
        energy_kev, distance_m.
    """
    p = Path(path)
    with open_hdf5(p) as fh:
        if DATA not in fh:
            raise InputError(f"{p}: dataset {DATA} is missing (not a DXchange projection file)")
        proj = _frames(fh, p, DATA)
        flat = _frames(fh, p, FLAT) if FLAT in fh else None
        dark = _frames(fh, p, DARK) if DARK in fh else None
        if THETA not in fh:
            raise InputError(f"{p}: dataset {THETA} (rotation angles) is missing")
        ds = fh[THETA]
        theta = angles_to_radians(
            read_dataset(ds, f"{p}:{THETA}"), f"{p}:{THETA}", attr_str(ds, "units"), theta_unit
        )
        if theta.size != proj.shape[0]:
            raise InputError(
                f"{p}:{THETA}: {theta.size} angles but {DATA} holds {proj.shape[0]} projections"
            )
        meta = _read_meta(fh, p)
    for name, frames, dset in (("flat", flat, FLAT), ("dark", dark, DARK)):
        if frames is None:
            warnings.warn(
                f"{p}: no {name} fields ({dset} missing); normalisation will need them "
                "unless the projections are already normalised",
                stacklevel=2,
            )
    return RawScan(proj=proj, theta=theta, flat=flat, dark=dark, meta=meta)


def _frames(fh: h5py.File, path: Path, name: str) -> np.ndarray:
    where = f"{path}:{name}"
    ds = fh[name]
    if not isinstance(ds, h5py.Dataset):
        raise InputError(f"{where}: expected a dataset, found a group")
    if name != DATA and ds.ndim == 2:
        arr = read_dataset(ds, where)[None]
    else:
        if ds.ndim != 3:
            raise InputError(
                f"{where}: expected a 3-D stack (n, z, x) of frames, got shape {ds.shape}"
            )
        arr = read_dataset(ds, where)
    require_frames(arr, where)
    require_finite(arr, where)
    return arr


def _read_meta(fh: h5py.File, path: Path) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if META_ATTR in fh.attrs:
        try:
            meta.update(json.loads(attr_str(fh, META_ATTR) or "{}"))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}: root attribute {META_ATTR} is not valid JSON ({exc})"
            ) from exc
    meta.update(
        source=str(path),
        format="dxchange",
        pixel_size_um=None,
        energy_kev=None,
        distance_m=None,
    )
    for name in (PIXEL_SIZE, PIXEL_SIZE_ALT):
        value = _value(fh, path, name)
        if value is not None and value > 0:
            meta["pixel_size_um"] = length_um(value, attr_str(fh[name], "units"))
            break
    value = _value(fh, path, ENERGY)
    if value is not None and value > 0:
        units = attr_str(fh[ENERGY], "units") or ("eV" if value > 1000 else "keV")
        meta["energy_kev"] = energy_kev(value, units)
    value = _value(fh, path, DISTANCE)
    if value is not None:
        meta["distance_m"] = length_m(value, attr_str(fh[DISTANCE], "units"), "mm")
    return meta


def _value(fh: h5py.File, path: Path, name: str) -> float | None:
    if name not in fh or not isinstance(fh[name], h5py.Dataset):
        return None
    return scalar(fh[name], f"{path}:{name}")


def write_dxchange(scan: RawScan, path: str | os.PathLike[str]) -> Path:
    """Write ``scan`` as a DXchange HDF5 file, atomically.

    Projections, flats and darks keep their dtype (chunked one frame per chunk, no
    compression); angles are written in degrees with ``units="deg"``; pixel size
    (um), energy (keV) and distance (m) go to their ``/measurement`` datasets with
    ``units`` attributes, other metadata into the root attribute ``tomosnake_meta``.
    """
    path = Path(path)
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as fh:
        fh.attrs["implements"] = "exchange:measurement"
        for name, data in ((DATA, scan.proj), (FLAT, scan.flat), (DARK, scan.dark)):
            if data is None:
                continue
            data = np.asarray(data)
            fh.create_dataset(name, data=data, chunks=(1, *data.shape[1:]))
        fh.create_dataset(THETA, data=np.rad2deg(scan.theta)).attrs["units"] = "deg"
        for name, key, units in (
            (PIXEL_SIZE, "pixel_size_um", "um"),
            (ENERGY, "energy_kev", "keV"),
            (DISTANCE, "distance_m", "m"),
        ):
            if scan.meta.get(key) is not None:
                fh.create_dataset(name, data=float(scan.meta[key])).attrs["units"] = units
        extra = {k: v for k, v in scan.meta.items() if k not in _OWN_KEYS}
        fh.attrs[META_ATTR] = json.dumps(_jsonable(extra))
    return path
