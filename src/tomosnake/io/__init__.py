"""Reading raw scans and reading/writing volumes (zarr v3 stores, TIFF stacks).

``read_scan(path)`` reads DXchange and NeXus HDF5, TIFF-stack folders and Zeiss
Xradia files into a :class:`RawScan`; ``open_scan(path)`` opens them for reading a block
of frames at a time (:class:`ScanReader`), and ``scan_info(path, cache_dir=...)`` gives
their header facts (:class:`ScanInfo`) without reading pixel data. ``write_dxchange`` and
``write_tiff_scan`` write the two formats a beamline simulator needs.
"""

from tomosnake.io.dxchange import read_dxchange, write_dxchange
from tomosnake.io.metadata import scan_info
from tomosnake.io.nexus import read_nexus
from tomosnake.io.rawscan import RawScan, read_raw_zarr, write_raw_zarr
from tomosnake.io.reader import ScanReader
from tomosnake.io.readscan import FORMATS, detect_format, open_scan, read_scan
from tomosnake.io.scaninfo import ScanInfo
from tomosnake.io.tiffscan import read_tiff_scan, write_tiff_scan
from tomosnake.io.volume import (
    atomic_output,
    create_volume,
    open_volume,
    read_tiff_volume,
    volume_attrs,
    write_volume,
)
from tomosnake.io.xradia import read_xradia

__all__ = [
    "FORMATS",
    "RawScan",
    "ScanInfo",
    "ScanReader",
    "atomic_output",
    "create_volume",
    "detect_format",
    "open_scan",
    "open_volume",
    "read_dxchange",
    "read_nexus",
    "read_raw_zarr",
    "read_scan",
    "read_tiff_scan",
    "read_tiff_volume",
    "read_xradia",
    "scan_info",
    "volume_attrs",
    "write_dxchange",
    "write_raw_zarr",
    "write_tiff_scan",
    "write_volume",
]
