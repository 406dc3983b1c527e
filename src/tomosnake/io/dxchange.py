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
    unwritten_problem,
)
from tomosnake.io.rawscan import RawScan
from tomosnake.io.reader import ScanReader, missing_sentence
from tomosnake.io.scaninfo import ScanInfo
from tomosnake.io.validate import angles_to_radians, dtype_problem
from tomosnake.io.volume import _jsonable, atomic_output

DATA, FLAT, DARK, THETA = (
    "/exchange/data",
    "/exchange/data_white",
    "/exchange/data_dark",
    "/exchange/theta",
)
_DATASETS = {"proj": DATA, "flat": FLAT, "dark": DARK}
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


class DxchangeReader(ScanReader):
    """A DXchange file opened for block reading (see :mod:`tomosnake.io.reader`).

    Options: ``theta_unit`` (``"auto"``, ``"deg"``, ``"rad"``) for ``/exchange/theta``.
    """

    def _open(self, theta_unit: str = "auto") -> ScanInfo:  # type: ignore[override]
        p = self.path
        fh = self._stack.enter_context(open_hdf5(p))
        if DATA not in fh:
            raise InputError(f"{p}: dataset {DATA} is missing (not a DXchange projection file)")
        proj = fh[DATA]
        if not isinstance(proj, h5py.Dataset) or proj.ndim != 3:
            shape = proj.shape if isinstance(proj, h5py.Dataset) else "a group"
            raise InputError(f"{p}:{DATA}: expected a 3-D stack (n, z, x) of frames, got {shape}")
        self._ds = {"proj": proj}
        problems: list[str] = []
        counts = {"flat": 0, "dark": 0}
        for kind, name in (("flat", FLAT), ("dark", DARK)):
            if name not in fh:
                problems.append(missing_sentence(str(p), kind, f"{name} missing"))
                continue
            ds = fh[name]
            if (
                not isinstance(ds, h5py.Dataset)
                or ds.ndim not in (2, 3)
                or (ds.shape[-2:] != proj.shape[1:])
            ):
                shape = ds.shape if isinstance(ds, h5py.Dataset) else "a group"
                problems.append(
                    f"{p}: {kind} fields have shape {shape}, expected (n, {proj.shape[1]}, "
                    f"{proj.shape[2]}) like the projections ({name})"
                )
                continue
            self._ds[kind] = ds
            counts[kind] = 1 if ds.ndim == 2 else ds.shape[0]
        for kind, ds in self._ds.items():
            where = self._where(kind)
            problem = dtype_problem(ds.dtype, where) if kind != "proj" else None
            problem = problem or unwritten_problem(ds, where)
            if problem:
                problems.append(problem)
        n_theta = 0
        if THETA not in fh:
            problems.append(f"{p}: dataset {THETA} (rotation angles) is missing")
        else:
            ds = fh[THETA]
            where = f"{p}:{THETA}"
            try:
                values = read_dataset(ds, where)
                n_theta = values.size
                self._theta = angles_to_radians(values, where, attr_str(ds, "units"), theta_unit)
            except InputError as exc:
                problems.append(str(exc))
            if n_theta != proj.shape[0]:
                problems.append(
                    f"{where}: {n_theta} angles but {DATA} holds {proj.shape[0]} projections"
                )
        self.meta = _read_meta(fh, p)
        self._recorded_flat_order(counts["flat"], proj.shape[0])
        return self._make_info(
            "dxchange", proj.shape, proj.dtype, counts["flat"], counts["dark"], problems, n_theta,
            alignment_shifts=self.shifts() is not None,
        )

    def _where(self, kind: str) -> str:
        return f"{self.path}:{_DATASETS[kind]}"

    def _read(self, kind: str, index: np.ndarray) -> np.ndarray:
        ds = self._ds[kind]
        where = self._where(kind)
        if ds.ndim == 2:  # a single flat/dark frame stored 2-D
            return read_dataset(ds, where)[None][index]
        return read_dataset(ds, where, slice(int(index[0]), int(index[-1]) + 1))


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
    with DxchangeReader(path, theta_unit=theta_unit) as reader:
        return reader.read()


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
