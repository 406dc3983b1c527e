"""Zeiss Xradia ``.txrm`` (tomography series) and ``.xrm`` (single image) files.

Both are OLE2 compound files (read with ``olefile``) holding little-endian streams:

- ``ImageInfo/ImageWidth``, ``ImageInfo/ImageHeight``, ``ImageInfo/NoOfImages``
  (int32) and ``ImageInfo/DataType`` (int32: 5 = uint16, 10 = float32);
- ``ImageData{k}/Image{i}``: image ``i`` (1-based), row-major (height, width), stored
  100 images per ``ImageData`` folder (``k = ceil(i / 100)``), as tomopy's dxchange
  reads them (no flip);
- ``ImageInfo/Angles`` (float32, degrees, one per image), ``ImageInfo/PixelSize``
  (float32, micrometres), ``ImageInfo/Energy`` (float32, eV, first entry),
  ``ImageInfo/ExpTimes`` (float32, seconds);
- ``ReferenceData/Image``: the reference (flat) image, if the file carries one
  (uint16 or float32, told apart by the stream size). It becomes a single flat;
  Xradia files hold no dark field (``dark`` is None).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import olefile

from tomosnake.errors import InputError
from tomosnake.io.rawscan import RawScan
from tomosnake.io.validate import require_finite

XRADIA_SUFFIXES = (".txrm", ".xrm")
_DTYPES = {5: np.dtype("<u2"), 10: np.dtype("<f4")}


def is_xradia(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is an OLE2 compound file with an ``ImageInfo`` storage."""
    p = Path(path)
    if not p.is_file() or not olefile.isOleFile(str(p)):
        return False
    try:
        with olefile.OleFileIO(str(p)) as ole:
            return ole.exists("ImageInfo/ImageWidth")
    except OSError:
        return False


def read_xradia(path: str | os.PathLike[str]) -> RawScan:
    """Read a Zeiss Xradia ``.txrm`` or ``.xrm`` file.

    Returns:
        RawScan: proj (angle, z, x) in the file's dtype (uint16 or float32), theta in
        radians (from degrees), flat (1, z, x) from the reference image or None,
        dark None, meta with source, format="xradia", pixel_size_um, energy_kev,
        distance_m (None) and exposure_s (per image, seconds).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    if not olefile.isOleFile(str(p)):
        raise InputError(f"{p}: not an OLE2 compound file (Zeiss .txrm/.xrm expected)")
    try:
        ole = olefile.OleFileIO(str(p))
    except OSError as exc:
        raise InputError(
            f"{p}: unreadable OLE2 compound file (truncated or corrupt?): {exc}"
        ) from exc
    with ole:
        width = int(_values(ole, p, "ImageInfo/ImageWidth", "<i4")[0])
        height = int(_values(ole, p, "ImageInfo/ImageHeight", "<i4")[0])
        n = int(_values(ole, p, "ImageInfo/NoOfImages", "<i4")[0])
        code = int(_values(ole, p, "ImageInfo/DataType", "<i4")[0])
        if code not in _DTYPES:
            raise InputError(
                f"{p}:ImageInfo/DataType: unsupported pixel type {code} "
                "(expected 5 = uint16 or 10 = float32)"
            )
        if width <= 0 or height <= 0 or n <= 0:
            raise InputError(f"{p}: ImageInfo gives {n} images of {width} x {height} pixels")
        angles = _values(ole, p, "ImageInfo/Angles", "<f4")
        if angles.size < n:
            raise InputError(f"{p}:ImageInfo/Angles: {angles.size} angles for {n} images")
        proj = np.empty((n, height, width), dtype=_DTYPES[code].newbyteorder("="))
        for i in range(n):
            name = f"ImageData{(i // 100) + 1}/Image{i + 1}"
            proj[i] = _image(ole, p, name, height, width, [_DTYPES[code]])
        flat = None
        if ole.exists("ReferenceData/Image"):
            flat = _image(ole, p, "ReferenceData/Image", height, width, list(_DTYPES.values()))[
                None
            ]
        meta = _meta(ole, p, n)
    require_finite(proj, f"{p}:ImageData")
    if flat is not None:
        require_finite(flat, f"{p}:ReferenceData/Image")
    else:
        warnings.warn(f"{p}: no reference (flat) image (ReferenceData/Image)", stacklevel=2)
    return RawScan(
        proj=proj, theta=np.deg2rad(angles[:n].astype(np.float64)), flat=flat, dark=None, meta=meta
    )


def _values(ole: olefile.OleFileIO, path: Path, name: str, dtype: str) -> np.ndarray:
    if not ole.exists(name):
        raise InputError(f"{path}: stream {name} is missing (not a Zeiss Xradia image file?)")
    raw = _read(ole, path, name)
    size = np.dtype(dtype).itemsize
    if len(raw) < size:
        raise InputError(f"{path}:{name}: stream holds {len(raw)} bytes, expected at least {size}")
    return np.frombuffer(raw[: len(raw) // size * size], dtype=dtype)


def _read(ole: olefile.OleFileIO, path: Path, name: str) -> bytes:
    try:
        with ole.openstream(name) as stream:
            return stream.read()
    except OSError as exc:
        raise InputError(f"{path}:{name}: unreadable stream (truncated file?): {exc}") from exc


def _image(
    ole: olefile.OleFileIO, path: Path, name: str, height: int, width: int, dtypes: list[np.dtype]
) -> np.ndarray:
    if not ole.exists(name):
        raise InputError(f"{path}: image stream {name} is missing")
    raw = _read(ole, path, name)
    for dtype in dtypes:
        if len(raw) == height * width * dtype.itemsize:
            return (
                np.frombuffer(raw, dtype=dtype)
                .reshape(height, width)
                .astype(dtype.newbyteorder("="))
            )
    sizes = " or ".join(str(height * width * d.itemsize) for d in dtypes)
    raise InputError(
        f"{path}:{name}: stream holds {len(raw)} bytes, expected {sizes} "
        f"for a {height} x {width} image"
    )


def _meta(ole: olefile.OleFileIO, path: Path, n: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "source": str(path),
        "format": "xradia",
        "pixel_size_um": None,
        "energy_kev": None,
        "distance_m": None,
    }
    if ole.exists("ImageInfo/PixelSize"):
        value = float(_values(ole, path, "ImageInfo/PixelSize", "<f4")[0])
        meta["pixel_size_um"] = value if np.isfinite(value) and value > 0 else None
    if ole.exists("ImageInfo/Energy"):
        value = float(_values(ole, path, "ImageInfo/Energy", "<f4")[0])
        meta["energy_kev"] = value / 1000.0 if np.isfinite(value) and value > 0 else None
    if ole.exists("ImageInfo/ExpTimes"):
        meta["exposure_s"] = [float(v) for v in _values(ole, path, "ImageInfo/ExpTimes", "<f4")[:n]]
    return meta
