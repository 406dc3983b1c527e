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
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from tomosnake.errors import InputError
from tomosnake.io.rawscan import RawScan
from tomosnake.io.reader import KINDS, ScanReader, missing_sentence
from tomosnake.io.scaninfo import ScanInfo
from tomosnake.io.validate import angles_to_radians
from tomosnake.io.volume import _jsonable, _read_tiff, atomic_output
from tomosnake.progress import track

SIDECAR = "scan.json"
ANGLES_TXT = "angles.txt"
LAYOUT = "tomosnake-tiff-scan/1"
_OWN_KEYS = ("source", "format", "pixel_size_um", "energy_kev", "distance_m")


def is_tiff_scan(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a folder with a ``scan.json`` or ``proj_*.tif`` files."""
    p = Path(path)
    if not p.is_dir():
        return False
    if (p / SIDECAR).is_file():
        return True
    pattern = re.compile(r"proj_(\d+)\.tiff?$", re.IGNORECASE)
    with os.scandir(p) as entries:
        return any(pattern.fullmatch(e.name) for e in entries)


def _frame_files(folder: Path, kind: str) -> dict[int, tuple[Path, int]]:
    """Frame index -> (file, size in bytes) of every ``{kind}_NNNNN.tif`` in ``folder``."""
    pattern = re.compile(rf"{kind}_(\d+)\.tiff?$", re.IGNORECASE)
    found: dict[int, tuple[Path, int]] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            m = pattern.fullmatch(entry.name)
            if m:
                i = int(m.group(1))
                if i in found:
                    raise InputError(
                        f"{folder}: frame {kind} {i} exists twice ({found[i][0].name}, "
                        f"{entry.name})"
                    )
                found[i] = (Path(entry.path), entry.stat().st_size)
    return found


def _tags(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the one frame in a TIFF file, from its tags (no pixel data read)."""
    try:
        with tifffile.TiffFile(path) as tf:
            page = tf.pages.first
            shape, dtype = tuple(page.shape), page.dtype
            n_pages = len(tf.pages)
            end = max(
                (o + c for o, c in zip(page.dataoffsets, page.databytecounts, strict=True)),
                default=0,
            )
            size = tf.filehandle.size
    except Exception as exc:  # tifffile raises many types for damaged files
        raise InputError(f"{path}: not a readable TIFF ({exc})") from exc
    if dtype is None or not shape or min(shape) == 0:
        raise InputError(f"{path}: no image data (corrupt TIFF?)")
    if end > size:
        raise InputError(
            f"{path}: truncated (its image data end at byte {end}, the file holds {size})"
        )
    if n_pages != 1 or len(shape) != 2:
        shape = (n_pages, *shape) if n_pages != 1 else shape
        raise InputError(f"{path}: expected one 2-D frame (z, x), got shape {shape}")
    return shape, np.dtype(dtype)


class TiffScanReader(ScanReader):
    """A TIFF-stack folder opened for block reading (see :mod:`tomosnake.io.reader`).

    Header check: the TIFF tags of the first frame of each kind give shape and dtype; every
    other frame of the same byte size is taken to match (same writer, same layout) and the
    tags of each frame of another size are read and compared. Reading a frame checks it
    again. Option: ``theta_unit`` (default ``"deg"``, as the layout says).
    """

    def _open(self, theta_unit: str = "deg") -> ScanInfo:  # type: ignore[override]
        folder = self.path
        if not folder.is_dir():
            raise InputError(f"{folder}: not a folder (a TIFF-stack scan is a folder of frames)")
        side = _sidecar(folder)
        self._files = {kind: _frame_files(folder, kind) for kind in KINDS}
        proj = self._files["proj"]
        if not proj:
            raise InputError(f"{folder}: no projection files proj_00000.tif ...")
        first = proj[min(proj)][0]
        self._shape, self._dtype = _tags(first)
        problems: list[str] = []
        counts = {}
        for kind in KINDS:
            counts[kind] = max(self._files[kind], default=-1) + 1
            if counts[kind] == 0:
                problems.append(missing_sentence(str(folder), kind, f"{kind}_00000.tif ..."))
            else:
                problems += self._check_frames(kind, first)
        angles, where = _angles(folder, side)
        if angles is None:
            problems.append(where)
        else:
            if angles.size != counts["proj"]:
                problems.append(
                    f"{where}: {angles.size} angles but the folder holds {counts['proj']} "
                    "projections (proj_*.tif)"
                )
            try:
                self._theta = angles_to_radians(angles, where, unit=theta_unit)
            except InputError as exc:
                problems.append(str(exc))
        self.meta = dict(side.get("meta") or {})
        self.meta.update(source=str(folder), format="tiff")
        for key in ("pixel_size_um", "energy_kev", "distance_m"):
            value = side.get(key)
            if value is not None and not isinstance(value, int | float):
                raise InputError(
                    f"{folder / SIDECAR}: {key} must be a number or null, got {value!r}"
                )
            self.meta[key] = None if value is None else float(value)
        self._recorded_flat_order(counts["flat"], counts["proj"])
        return self._make_info(
            "tiff",
            (counts["proj"], *self._shape),
            self._dtype,
            counts["flat"],
            counts["dark"],
            problems,
            0 if angles is None else angles.size,
            alignment_shifts=self.shifts() is not None,
        )

    def _check_frames(self, kind: str, first: Path) -> list[str]:
        """Problems of the frames of ``kind``: gaps, unreadable files, other shapes/dtypes."""
        folder, files = self.path, self._files[kind]
        n = max(files) + 1
        problems = []
        missing = [i for i in range(n) if i not in files]
        if missing:
            problems.append(
                f"{folder}: {kind} frame {missing[0]} ({kind}_{missing[0]:05d}.tif) is missing "
                f"({len(missing)} of {n} missing)"
            )
        ref, ref_size = files[min(files)]
        bad: list[str] = []
        if kind != "proj":
            try:
                shape, dtype = _tags(ref)
            except InputError as exc:
                return [*problems, str(exc)]
            if (shape, dtype) != (self._shape, self._dtype):
                return [
                    *problems,
                    f"{folder}: {kind} frames are {shape} {dtype} but projections are "
                    f"{self._shape} {self._dtype}",
                ]
        for i in sorted(files):
            path, size = files[i]
            if size == ref_size:
                continue
            try:
                shape, dtype = _tags(path)
            except InputError as exc:
                bad.append(str(exc))
                continue
            if (shape, dtype) != (self._shape, self._dtype):
                bad.append(
                    f"{path}: frame is {shape} {dtype} but {first.name} is "
                    f"{self._shape} {self._dtype}"
                )
        if bad:
            more = f" (and {len(bad) - 1} more {kind} frame(s))" if len(bad) > 1 else ""
            problems.append(bad[0] + more)
        return problems

    def _where(self, kind: str) -> str:
        return f"{self.path}/{kind}_*.tif"

    def _read(self, kind: str, index: np.ndarray) -> np.ndarray:
        files = self._files[kind]
        first = self._files["proj"][min(self._files["proj"])][0]
        stack = np.empty((index.size, *self._shape), dtype=self._dtype)
        for j, i in enumerate(track(index, f"reading {kind} TIFFs")):
            path = files[int(i)][0]
            frame = _read_tiff(path)
            if frame.shape != self._shape or frame.dtype != self._dtype:
                raise InputError(
                    f"{path}: frame is {frame.shape} {frame.dtype} but {first.name} is "
                    f"{self._shape} {self._dtype}"
                )
            stack[j] = frame
        return stack


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
    with TiffScanReader(path, theta_unit=theta_unit) as reader:
        return reader.read()


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


def _angles(folder: Path, side: dict[str, Any]) -> tuple[np.ndarray | None, str]:
    """(angles in the stored unit, where they come from), or (None, why there are none)."""
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
    return None, f"{folder}: no angles ({SIDECAR} without 'angles_deg' and no {ANGLES_TXT})"


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
