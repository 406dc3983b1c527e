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
from pathlib import Path
from typing import Any

import numpy as np
import olefile

from tomosnake.errors import InputError
from tomosnake.io.rawscan import RawScan
from tomosnake.io.reader import ScanReader, missing_sentence
from tomosnake.io.scaninfo import ScanInfo
from tomosnake.io.validate import require_finite

XRADIA_SUFFIXES = (".txrm", ".xrm")
REFERENCE = "ReferenceData/Image"
ANGLES = "ImageInfo/Angles"
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


def parse_shifts(x_raw: bytes, y_raw: bytes, n: int, where: str) -> np.ndarray:
    """Per-image alignment shifts (dy, dx) in pixels, float64 (n, 2), from the little-endian
    float32 streams ``Alignment/X-Shifts`` and ``Alignment/Y-Shifts`` (one value per image;
    extra values are ignored, too few raise InputError naming ``where``)."""
    x = np.frombuffer(x_raw[: len(x_raw) // 4 * 4], dtype="<f4")
    y = np.frombuffer(y_raw[: len(y_raw) // 4 * 4], dtype="<f4")
    if x.size < n or y.size < n:
        raise InputError(
            f"{where}: Alignment/X-Shifts and Y-Shifts hold {x.size} and {y.size} values "
            f"for {n} images"
        )
    shifts = np.stack([y[:n], x[:n]], axis=1).astype(np.float64)
    require_finite(shifts, f"{where}:Alignment/X-Shifts, Y-Shifts")
    return shifts


class XradiaReader(ScanReader):
    """A Zeiss ``.txrm``/``.xrm`` file opened for block reading (one OLE stream per image).

    ``shifts()`` gives the per-image alignment shifts Zeiss's software stores in
    ``Alignment/Y-Shifts`` and ``Alignment/X-Shifts`` (pixels of the stored images; the
    translation its reconstructor applies to each image, as txrm2tiff does with
    ``np.roll(image, (dy, dx))``), or None when the file has none or all are zero.
    """

    def _open(self) -> ScanInfo:  # type: ignore[override]
        p = self.path
        if not p.is_file():
            raise InputError(f"{p}: no such file")
        if not olefile.isOleFile(str(p)):
            raise InputError(f"{p}: not an OLE2 compound file (Zeiss .txrm/.xrm expected)")
        try:
            ole = olefile.OleFileIO(str(p))
        except (OSError, ValueError) as exc:
            raise InputError(
                f"{p}: unreadable OLE2 compound file (truncated or corrupt?): {exc}"
            ) from exc
        self._ole = self._stack.enter_context(ole)
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
        self._shape, self._dtype = (height, width), _DTYPES[code]
        problems: list[str] = [] if (problem := _truncation(ole, p)) is None else [problem]
        angles = np.empty(0, np.float32)
        if ole.exists(ANGLES):
            angles = _values(ole, p, ANGLES, "<f4")[:n].astype(np.float64)
        if angles.size < n:
            problems.append(f"{p}:{ANGLES}: {angles.size} angles for {n} images")
        try:
            require_finite(angles, f"{p}:{ANGLES}")
            self._theta = np.deg2rad(angles) if angles.size else None
        except InputError as exc:
            problems.append(str(exc))
        bad = [
            problem
            for i in range(n)
            if (problem := _size_problem(ole, p, _image_name(i), height * width, [self._dtype]))
        ]
        if bad:
            more = f" (and {len(bad) - 1} more image(s))" if len(bad) > 1 else ""
            problems.append(bad[0] + more)
        n_flat = 0
        self._flat_dtype = self._dtype
        if ole.exists(REFERENCE):
            problem = _size_problem(ole, p, REFERENCE, height * width, list(_DTYPES.values()))
            if problem:
                problems.append(problem)
            else:
                size = ole.get_size(REFERENCE)
                self._flat_dtype = next(
                    d for d in _DTYPES.values() if size == height * width * d.itemsize
                )
                n_flat = 1
        else:
            problems.append(missing_sentence(str(p), "flat", f"no reference image {REFERENCE}"))
        problems.append(missing_sentence(str(p), "dark", "Xradia files hold none"))
        self._shifts = None
        if ole.exists("Alignment/X-Shifts") and ole.exists("Alignment/Y-Shifts"):
            try:
                shifts = parse_shifts(
                    _read(ole, p, "Alignment/X-Shifts"),
                    _read(ole, p, "Alignment/Y-Shifts"),
                    n,
                    str(p),
                )
                self._shifts = shifts if np.any(shifts) else None
            except InputError as exc:
                problems.append(str(exc))
        self.meta = _meta(ole, p, n)
        fmt = p.suffix.lower().lstrip(".")
        if fmt not in ("txrm", "xrm"):
            fmt = "txrm" if n > 1 else "xrm"
        return self._make_info(
            fmt,
            (n, height, width),
            self._dtype,
            n_flat,
            0,
            problems,
            angles.size,
            self._shifts is not None,
        )

    def _where(self, kind: str) -> str:
        return f"{self.path}:{REFERENCE if kind == 'flat' else 'ImageData'}"

    def _read(self, kind: str, index: np.ndarray) -> np.ndarray:
        h, w = self._shape
        if kind == "flat":
            return _image(self._ole, self.path, REFERENCE, h, w, [self._flat_dtype])[None]
        out = np.empty((index.size, h, w), dtype=self._dtype.newbyteorder("="))
        for j, i in enumerate(index):
            out[j] = _image(self._ole, self.path, _image_name(int(i)), h, w, [self._dtype])
        return out

    def shifts(self) -> np.ndarray | None:
        """Per-image alignment shifts (dy, dx) in pixels, float64 (n_proj, 2), or None."""
        return None if self._shifts is None else self._shifts.copy()


def read_xradia(path: str | os.PathLike[str]) -> RawScan:
    """Read a Zeiss Xradia ``.txrm`` or ``.xrm`` file.

    Returns:
        RawScan: proj (angle, z, x) in the file's dtype (uint16 or float32), theta in
        radians (from degrees), flat (1, z, x) from the reference image or None,
        dark None, meta with source, format="xradia", pixel_size_um, energy_kev,
        distance_m (None) and exposure_s (per image, seconds).
    """
    with XradiaReader(path) as reader:
        return reader.read()


def _image_name(i: int) -> str:
    """Stream of image ``i`` (0-based): 100 images per ``ImageData`` storage."""
    return f"ImageData{(i // 100) + 1}/Image{i + 1}"


def _truncation(ole: olefile.OleFileIO, path: Path) -> str | None:
    """Why the file is shorter than its allocation table says, or None (no stream is read:
    a sector chain or a stream that starts past the end of the file means truncation)."""
    fat = np.asarray(ole.fat, dtype=np.int64)
    chained = fat[fat < olefile.MAXREGSECT + 1]
    starts = [
        e.isectStart
        for e in ole.direntries
        if e is not None and e.entry_type == olefile.STGTY_STREAM and e.size >= ole.minisectorcutoff
    ]
    last = max(int(chained.max()) if chained.size else -1, max(starts, default=-1))
    if last >= ole.nb_sect:
        return (
            f"{path}: truncated OLE2 file: its streams need sector {last} but the file ends "
            f"after sector {ole.nb_sect - 1} ({path.stat().st_size} bytes)"
        )
    return None


def _size_problem(
    ole: olefile.OleFileIO, path: Path, name: str, pixels: int, dtypes: list[np.dtype]
) -> str | None:
    """Why stream ``name`` cannot hold a ``pixels``-pixel image of one of ``dtypes``, or None
    (from the OLE directory only: nothing is read)."""
    if not ole.exists(name):
        return f"{path}: image stream {name} is missing"
    size = ole.get_size(name)
    if any(size == pixels * d.itemsize for d in dtypes):
        return None
    sizes = " or ".join(str(pixels * d.itemsize) for d in dtypes)
    return f"{path}:{name}: stream holds {size} bytes, expected {sizes} (truncated?)"


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
