"""``read_scan``: one entry point for every raw scan format, with auto-detection.

Formats (``fmt``) and how ``"auto"`` recognises them:

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py

from tomosnake.errors import ConfigError, InputError
from tomosnake.io.dxchange import is_dxchange, read_dxchange
from tomosnake.io.hdf5util import attr_str, is_hdf5, open_hdf5
from tomosnake.io.nexus import read_nexus
from tomosnake.io.rawscan import RawScan
from tomosnake.io.tiffscan import is_tiff_scan, read_tiff_scan
from tomosnake.io.xradia import XRADIA_SUFFIXES, is_xradia, read_xradia

log = logging.getLogger(__name__)

#: format name -> reader(path, **options)
READERS: dict[str, Callable[..., RawScan]] = {
    "dxchange": read_dxchange,
    "nexus": read_nexus,
    "tiff": read_tiff_scan,
    "xradia": read_xradia,
}
FORMATS = tuple(READERS)
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


def read_scan(path: str | os.PathLike[str], fmt: str = "auto", **options: Any) -> RawScan:
    """Read a raw scan in any supported format.

    Args:
        path: scan file or folder.
        fmt: ``"auto"`` or one of :data:`FORMATS`.
        **options: passed to the format's reader, e.g. ``theta_unit`` ("auto", "deg",
            "rad"; dxchange, nexus, tiff), ``data_path``, ``image_key_path``,
            ``angles_path``, ``allowed_dirs`` (nexus).

    Returns:
        RawScan: proj (angle, z, x), theta (radians), flat/dark (n, z, x) or None and
        meta (source, format, pixel_size_um, energy_kev, distance_m, ...).

    Raises:
        ConfigError: unknown ``fmt`` or an option the format's reader does not take.
        InputError: the data are missing, unreadable or inconsistent.
    """
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in READERS:
        raise ConfigError(f"unknown scan format {fmt!r}; {_SUPPORTED}")
    reader = READERS[fmt]
    accepted = [n for n in inspect.signature(reader).parameters if n != "path"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"format {fmt!r} does not take option(s) {unknown}; it takes {accepted}")
    if not Path(path).exists():
        raise InputError(f"{path}: no such file or directory")
    scan = reader(path, **options)
    log.info(
        "%s (%s): %d projections of %s %s, %s flats, %s darks",
        path,
        fmt,
        scan.proj.shape[0],
        scan.proj.shape[1:],
        scan.proj.dtype,
        0 if scan.flat is None else scan.flat.shape[0],
        0 if scan.dark is None else scan.dark.shape[0],
    )
    return scan
