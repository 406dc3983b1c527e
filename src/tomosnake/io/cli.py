"""``tomosnake ingest INPUT OUTPUT.zarr``: read a raw scan in any format into raw.zarr."""

from __future__ import annotations

import argparse
import logging

import numpy as np

from tomosnake.io.rawscan import write_raw_zarr
from tomosnake.io.readscan import ALIASES, FORMATS, read_scan
from tomosnake.io.validate import THETA_UNITS

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tomosnake ingest``."""
    parser.add_argument("input", help="scan file (.h5, .nxs, .txrm, .xrm) or TIFF-stack folder")
    parser.add_argument("output", help="raw.zarr store to write")
    parser.add_argument(
        "--format",
        dest="fmt",
        default="auto",
        choices=["auto", *FORMATS, *ALIASES],
        help="input format",
    )
    parser.add_argument(
        "--theta-unit",
        choices=THETA_UNITS,
        default=None,
        help="unit of the stored angles (dxchange, nexus, tiff; default: from the file)",
    )
    parser.add_argument(
        "--allowed-dir",
        action="append",
        default=None,
        help="nexus: folder external links may point into (repeatable; default: the "
        "master file's folder)",
    )
    for name in ("data-path", "image-key-path", "angles-path"):
        parser.add_argument(f"--{name}", default=None, help=f"nexus: HDF5 {name.replace('-', ' ')}")


def run(args: argparse.Namespace) -> int:
    """Read ``args.input`` and write ``args.output`` (raw.zarr)."""
    options = {
        key: value
        for key, value in (
            ("theta_unit", args.theta_unit),
            ("allowed_dirs", args.allowed_dir),
            ("data_path", args.data_path),
            ("image_key_path", args.image_key_path),
            ("angles_path", args.angles_path),
        )
        if value is not None
    }
    scan = read_scan(args.input, args.fmt, **options)
    write_raw_zarr(scan, args.output)
    deg = np.rad2deg(scan.theta)
    print(
        f"{args.output}: {scan.proj.shape[0]} projections {scan.proj.shape[1:]} "
        f"{scan.proj.dtype}, {0 if scan.flat is None else scan.flat.shape[0]} flats, "
        f"{0 if scan.dark is None else scan.dark.shape[0]} darks, angles {deg.min():.3f} .. "
        f"{deg.max():.3f} deg ({scan.meta.get('format')})"
    )
    return 0
