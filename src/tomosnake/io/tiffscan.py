"""TIFF-stack raw scans: one TIFF per frame plus a JSON sidecar, as many beamlines write.

Layout of a scan folder::

    SCAN/
      scan.json            sidecar (below)
      proj_00000.tif       projection 0: one 2-D frame (z, x), any integer or float dtype
      proj_00001.tif       ... one file per angle, numbered 0 .. n-1 without gaps
      flat_00000.tif ...   flat (white) fields, optional
      dark_00000.tif ...   dark fields, optional
      angles.txt           optional: one angle in degrees per line, used only when
                           scan.json has no "angles_deg"

``scan.json``::

    {"layout": "tomosnake-tiff-scan/1",
     "angles_deg": [0.0, 0.5, ...],      # one per projection, degrees
     "pixel_size_um": 0.65,              # effective pixel size, micrometres (or null)
     "energy_kev": 25.0,                 # beam energy, keV (or null)
     "distance_m": null,                 # sample-detector distance, metres (or null)
     "meta": {...}}                      # any further metadata, copied into RawScan.meta

Indices have at least five digits (``.tif`` or ``.tiff``); every frame must have
the shape and dtype of ``proj_00000``. A folder without flats gives ``flat`` None
and a warning. :func:`write_tiff_scan` writes this layout atomically;
:func:`read_tiff_scan` reads it back with identical pixels and metadata (angles to
rounding of the radian -> degree -> radian conversion).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from tomosnake.errors import InputError
from tomosnake.io.rawscan import RawScan
from tomosnake.io.validate import angles_to_radians, require_finite
from tomosnake.io.volume import _jsonable, _read_tiff, atomic_output
from tomosnake.progress import track

SIDECAR = "scan.json"
ANGLES_TXT = "angles.txt"
LAYOUT = "tomosnake-tiff-scan/1"
KINDS = ("proj", "flat", "dark")
_OWN_KEYS = ("source", "format", "pixel_size_um", "energy_kev", "distance_m")


def is_tiff_scan(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a folder with a ``scan.json`` or ``proj_*.tif`` files."""
    p = Path(path)
    return p.is_dir() and ((p / SIDECAR).is_file() or any(_frame_files(p, "proj")))


def _frame_files(folder: Path, kind: str) -> dict[int, Path]:
    pattern = re.compile(rf"{kind}_(\d+)\.tiff?$", re.IGNORECASE)
    found: dict[int, Path] = {}
    for f in folder.iterdir():
        m = pattern.fullmatch(f.name)
        if m:
            i = int(m.group(1))
            if i in found:
                raise InputError(
                    f"{folder}: frame {kind} {i} exists twice ({found[i].name}, {f.name})"
                )
            found[i] = f
    return found


def read_tiff_scan(path: str | os.PathLike[str], theta_unit: str = "deg") -> RawScan:
    """Read a TIFF-stack scan folder (layout in the module docstring).

    Args:
        path: the scan folder.
        theta_unit: unit of the stored angles; the layout says degrees (``"deg"``), but
            ``"rad"`` or ``"auto"`` may be given for folders written otherwise.

    Returns:
        RawScan with proj (angle, z, x), flat/dark (n, z, x) or None, theta in radians,
        meta with source, format="tiff", pixel_size_um, energy_kev, distance_m.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder (a TIFF-stack scan is a folder of frames)")
    side = _sidecar(folder)
    stacks = {kind: _read_stack(folder, kind) for kind in KINDS}
    proj = stacks["proj"]
    if proj is None:
        raise InputError(f"{folder}: no projection files proj_00000.tif ...")
    angles, where = _angles(folder, side)
    if angles.size != proj.shape[0]:
        raise InputError(
            f"{where}: {angles.size} angles but the folder holds {proj.shape[0]} projections "
            f"(proj_*.tif)"
        )
    theta = angles_to_radians(angles, where, unit=theta_unit)
    for kind in ("flat", "dark"):
        frames = stacks[kind]
        if frames is not None and (
            frames.shape[1:] != proj.shape[1:] or frames.dtype != proj.dtype
        ):
            raise InputError(
                f"{folder}: {kind} frames are {frames.shape[1:]} {frames.dtype} but "
                f"projections are {proj.shape[1:]} {proj.dtype}"
            )
        if frames is None:
            warnings.warn(f"{folder}: no {kind} frames ({kind}_00000.tif ...)", stacklevel=2)
    meta: dict[str, Any] = dict(side.get("meta") or {})
    meta.update(source=str(folder), format="tiff")
    for key in ("pixel_size_um", "energy_kev", "distance_m"):
        value = side.get(key)
        if value is not None and not isinstance(value, int | float):
            raise InputError(f"{folder / SIDECAR}: {key} must be a number or null, got {value!r}")
        meta[key] = None if value is None else float(value)
    return RawScan(proj=proj, theta=theta, flat=stacks["flat"], dark=stacks["dark"], meta=meta)


def _sidecar(folder: Path) -> dict[str, Any]:
    f = folder / SIDECAR
    if not f.is_file():
        return {}
    try:
        side = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{f}: not valid JSON ({exc})") from exc
    if not isinstance(side, dict):
        raise InputError(f"{f}: expected a JSON object, got {type(side).__name__}")
    return side


def _angles(folder: Path, side: dict[str, Any]) -> tuple[np.ndarray, str]:
    if "angles_deg" in side:
        where = f"{folder / SIDECAR}:angles_deg"
        try:
            return np.asarray(side["angles_deg"], dtype=np.float64).ravel(), where
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: expected a list of numbers ({exc})") from exc
    f = folder / ANGLES_TXT
    if f.is_file():
        try:
            return np.loadtxt(f, dtype=np.float64, ndmin=1), str(f)
        except ValueError as exc:
            raise InputError(f"{f}: expected one angle in degrees per line ({exc})") from exc
    raise InputError(f"{folder}: no angles ({SIDECAR} without 'angles_deg' and no {ANGLES_TXT})")


def _read_stack(folder: Path, kind: str) -> np.ndarray | None:
    files = _frame_files(folder, kind)
    if not files:
        return None
    n = max(files) + 1
    missing = [i for i in range(n) if i not in files]
    if missing:
        raise InputError(
            f"{folder}: {kind} frame {missing[0]} ({kind}_{missing[0]:05d}.tif) is missing "
            f"({len(missing)} of {n} missing)"
        )
    first = _frame(files[0])
    stack = np.empty((n, *first.shape), dtype=first.dtype)
    stack[0] = first
    for i in track(range(1, n), f"reading {kind} TIFFs"):
        frame = _frame(files[i])
        if frame.shape != first.shape or frame.dtype != first.dtype:
            raise InputError(
                f"{files[i]}: frame is {frame.shape} {frame.dtype} but {files[0].name} is "
                f"{first.shape} {first.dtype}"
            )
        stack[i] = frame
    require_finite(stack, f"{folder}/{kind}_*.tif")
    return stack


def _frame(path: Path) -> np.ndarray:
    frame = _read_tiff(path)
    if frame.size == 0:
        raise InputError(f"{path}: no image data (corrupt TIFF?)")
    if frame.ndim != 2:
        raise InputError(f"{path}: expected one 2-D frame (z, x), got shape {frame.shape}")
    return frame


def write_tiff_scan(scan: RawScan, path: str | os.PathLike[str]) -> Path:
    """Write ``scan`` as a TIFF-stack folder (layout in the module docstring), atomically."""
    folder = Path(path)
    with atomic_output(folder) as tmp:
        tmp.mkdir()
        for kind in KINDS:
            frames = getattr(scan, kind)
            if frames is None:
                continue
            for i, frame in enumerate(track(frames, f"writing {kind} TIFFs")):
                tifffile.imwrite(tmp / f"{kind}_{i:05d}.tif", frame, photometric="minisblack")
        side = {
            "layout": LAYOUT,
            "angles_deg": np.rad2deg(scan.theta).tolist(),
            **{k: scan.meta.get(k) for k in ("pixel_size_um", "energy_kev", "distance_m")},
            "meta": {k: v for k, v in scan.meta.items() if k not in _OWN_KEYS},
        }
        (tmp / SIDECAR).write_text(json.dumps(_jsonable(side), indent=1))
    return folder
