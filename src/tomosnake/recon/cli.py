"""``tomosnake recon INPUT OUTPUT``: read a raw scan, prepare it, reconstruct, write the volume."""

from __future__ import annotations

import argparse
import logging

import numpy as np

from tomosnake.recon.api import ALGORITHMS, reconstruct
from tomosnake.recon.backend import DEVICES
from tomosnake.recon.filters import FILTERS
from tomosnake.recon.slabs import recon_attrs

log = logging.getLogger("tomosnake")


def _center(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError as exc:
        msg = f"--center must be 'auto' or a number, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from exc


def _paganin(text: str) -> dict[str, float]:
    parts = text.split(",")
    try:
        energy, dist, pixel, db = (float(p) for p in parts)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--paganin needs ENERGY_KEV,DIST_M,PIXEL_UM,DELTA_BETA (4 numbers), got {text!r}"
        ) from exc
    return {"energy_kev": energy, "distance_m": dist, "pixel_size_um": pixel, "delta_beta": db}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tomosnake recon``."""
    parser.add_argument("input", help="raw scan: DXchange/NeXus HDF5, TIFF stack, txrm or raw.zarr")
    parser.add_argument("output", help="reconstructed volume: a .zarr store or a .tif/.tiff file")
    parser.add_argument("--algorithm", choices=ALGORITHMS, default="gridrec")
    parser.add_argument("--filter", choices=FILTERS, default="shepp", dest="filter_name")
    parser.add_argument("--center", type=_center, default="auto",
                        help="rotation centre in detector columns (tomopy convention) or 'auto'")
    parser.add_argument("--rings", default="sort", help="stripe removal method (none, sort, fw...)")
    parser.add_argument("--paganin", type=_paganin, default=None,
                        metavar="ENERGY_KEV,DIST_M,PIXEL_UM,DELTA_BETA",
                        help="Paganin phase retrieval before reconstruction")
    parser.add_argument("--device", choices=DEVICES, default="auto")


def run(args: argparse.Namespace) -> int:
    """Read, prepare and reconstruct ``args.input``; write ``args.output``."""
    from tomosnake.io import read_raw_zarr, read_scan, write_volume
    from tomosnake.io.volume import is_zarr_path
    from tomosnake.preprocess import prepare

    raw = read_raw_zarr(args.input) if is_zarr_path(args.input) else read_scan(args.input)
    prep = prepare(raw, rings=args.rings, center=args.center, paganin=args.paganin)
    center = prep.meta.get("center")
    log.info("reconstructing %s with %s/%s, centre %s", args.input, args.algorithm,
             args.filter_name, center)
    rec = reconstruct(prep.proj, prep.theta, center, algorithm=args.algorithm,
                      filter_name=args.filter_name, device=args.device)
    params = {"algorithm": args.algorithm, "filter_name": args.filter_name}
    attrs = recon_attrs(prep.meta, np.asarray(prep.theta), center, params)
    write_volume(args.output, rec, attrs)
    log.info("wrote %s %s", args.output, rec.shape)
    return 0
