"""``open_scan`` and ``read_scan``: one entry point for every raw scan format, with auto-detection.

``open_scan(path)`` opens a scan for block reading (headers only; see
:mod:`tomosnake.io.reader`); ``read_scan(path)`` reads it whole through the same reader.

Formats (``fmt``) and how ``"auto"`` recognises them (``"txrm"`` and ``"xrm"``, the scan
sheet's names, mean ``"xradia"``):

- ``"tiff"``: a folder with ``scan.json`` or ``proj_*.tif`` (:mod:`tomosnake.io.tiffscan`);
- ``"xradia"``: ``.txrm``/``.xrm`` suffix, or an OLE2 file with ``ImageInfo``
  (:mod:`tomosnake.io.xradia`);
- ``"dxchange"``: an HDF5 file with ``/exchange/data`` (:mod:`tomosnake.io.dxchange`);
- ``"nexus"``: a ``.nxs``/``.nx`` file, or an HDF5 file with an ``NXentry`` group and
  no ``/exchange/data`` (:mod:`tomosnake.io.nexus`).

Anything else raises :class:`~tomosnake.errors.ConfigError` listing these formats;
a file that looks like HDF5 but cannot be opened (truncated) raises InputError.
"""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path
from typing import Any

import h5py

from tomosnake.errors import ConfigError, InputError
from tomosnake.io.dxchange import DxchangeReader, is_dxchange
from tomosnake.io.hdf5util import attr_str, is_hdf5, open_hdf5
from tomosnake.io.nexus import NexusReader
from tomosnake.io.rawscan import RawScan
from tomosnake.io.reader import ScanReader
from tomosnake.io.tiffscan import TiffScanReader, is_tiff_scan
from tomosnake.io.xradia import XRADIA_SUFFIXES, XradiaReader, is_xradia

log = logging.getLogger(__name__)

#: format name -> reader class (options are its ``_open`` keyword arguments)
READERS: dict[str, type[ScanReader]] = {
    "dxchange": DxchangeReader,
    "nexus": NexusReader,
    "tiff": TiffScanReader,
    "xradia": XradiaReader,
}
FORMATS = tuple(READERS)
#: other names of formats (the scan sheet's ``format`` column says txrm or xrm)
ALIASES = {"txrm": "xradia", "xrm": "xradia"}
NEXUS_SUFFIXES = (".nxs", ".nx", ".nx5")
_SUPPORTED = (
    "supported formats: dxchange (HDF5 with /exchange/data), nexus (.nxs, NXtomo), "
    "tiff (folder with scan.json and proj_*.tif), xradia (.txrm/.xrm)"
)


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format name of the scan at ``path`` (one of :data:`FORMATS`).

    Raises:
        InputError: ``path`` does not exist, or is an unreadable HDF5 file.
        ConfigError: the format is not recognised.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    if p.is_dir():
        if is_tiff_scan(p):
            return "tiff"
        raise ConfigError(
            f"{p}: folder is not a recognised scan (no scan.json or proj_*.tif); {_SUPPORTED}"
        )
    suffix = p.suffix.lower()
    if suffix in XRADIA_SUFFIXES:
        return "xradia"
    if suffix in NEXUS_SUFFIXES:
        return "nexus"
    if is_hdf5(p):
        with open_hdf5(p) as fh:
            if is_dxchange(fh):
                return "dxchange"
            if any(
                isinstance(fh.get(k, getlink=True), h5py.HardLink)
                and attr_str(fh[k], "NX_class") == "NXentry"
                for k in fh
            ):
                return "nexus"
        raise ConfigError(
            f"{p}: HDF5 file with neither /exchange/data nor an NXentry; {_SUPPORTED}"
        )
    if is_xradia(p):
        return "xradia"
    raise ConfigError(f"{p}: unrecognised scan format; {_SUPPORTED}")


def open_scan(path: str | os.PathLike[str], fmt: str = "auto", **options: Any) -> ScanReader:
    """Open a raw scan for block reading: headers only (see :mod:`tomosnake.io.reader`).

    Use as a context manager: ``with open_scan(p) as scan: scan.projections(0, 100)``.

    Args:
        path: scan file or folder.
        fmt: ``"auto"``, one of :data:`FORMATS`, or ``"txrm"``/``"xrm"`` (= xradia).
        **options: passed to the format's reader, e.g. ``theta_unit`` ("auto", "deg",
            "rad"; dxchange, nexus, tiff), ``data_path``, ``image_key_path``,
            ``angles_path``, ``allowed_dirs`` (nexus).

    Raises:
        ConfigError: unknown ``fmt`` or an option the format's reader does not take.
        InputError: the file is missing or unreadable, or its structure is not the format's
            (problems found in readable headers are in ``info.problems`` instead).
    """
    fmt = ALIASES.get(fmt, fmt)
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in READERS:
        raise ConfigError(f"unknown scan format {fmt!r}; {_SUPPORTED}")
    reader = READERS[fmt]
    accepted = [n for n in inspect.signature(reader._open).parameters if n != "self"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"format {fmt!r} does not take option(s) {unknown}; it takes {accepted}")
    if not Path(path).exists():
        raise InputError(f"{path}: no such file or directory")
    return reader(path, **options)


def read_scan(path: str | os.PathLike[str], fmt: str = "auto", **options: Any) -> RawScan:
    """Read a whole raw scan in any supported format (:func:`open_scan`, then ``read()``).

    Args:
        path: scan file or folder.
        fmt: ``"auto"``, one of :data:`FORMATS`, or ``"txrm"``/``"xrm"``.
        **options: as :func:`open_scan`.

    Returns:
        RawScan: proj (angle, z, x), theta (radians), flat/dark (n, z, x) or None and
        meta (source, format, pixel_size_um, energy_kev, distance_m, ...).

    Raises:
        ConfigError: unknown ``fmt`` or an option the format's reader does not take.
        InputError: the data are missing, unreadable or inconsistent.
    """
    with open_scan(path, fmt, **options) as reader:
        scan = reader.read()
    log.info(
        "%s (%s): %d projections of %s %s, %s flats, %s darks",
        path,
        reader.info.format,
        scan.proj.shape[0],
        scan.proj.shape[1:],
        scan.proj.dtype,
        0 if scan.flat is None else scan.flat.shape[0],
        0 if scan.dark is None else scan.dark.shape[0],
    )
    return scan
