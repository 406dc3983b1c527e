"""``tomosnake recon INPUT OUTPUT``: read a raw scan, prepare it, reconstruct, write the volume."""

from __future__ import annotations

import argparse
import logging

import numpy as np

from tomosnake.io import RawScan
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


def _sweep(text: str) -> tuple[float, float, float]:
    try:
        start, stop, step = (float(v) for v in text.split(":"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--center-sweep needs START:STOP:STEP (three numbers), got {text!r}") from exc
    return start, stop, step


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
    parser.add_argument("--no-flats", choices=("error", "normalised", "row_bright"),
                        default="error", help="without flat fields: stop (default), data are "
                        "already normalised transmission, or divide each row by its bright level")
    parser.add_argument("--no-darks", choices=("error", "zero"), default="error",
                        help="without dark fields: stop (default) or take the dark as zero")
    parser.add_argument("--center-sweep", type=_sweep, default=None, metavar="START:STOP:STEP",
                        help="instead of a volume, write OUTPUT as a TIFF stack of one slice per "
                             "centre (each page labelled with its centre) and print a sharpness "
                             "table")
    parser.add_argument("--sweep-row", type=int, default=None, metavar="Z",
                        help="detector row of the sweep slice (default: the middle row)")


def run(args: argparse.Namespace) -> int:
    """Read, prepare and reconstruct ``args.input``; write ``args.output``."""
    from tomosnake.io import read_raw_zarr, read_scan, write_volume
    from tomosnake.io.volume import is_zarr_path
    from tomosnake.preprocess.prepare import prepare

    raw = read_raw_zarr(args.input) if is_zarr_path(args.input) else read_scan(args.input)
    if args.center_sweep is not None:
        return _run_sweep(args, raw)
    prep = prepare(raw, rings=args.rings, center=args.center, paganin=args.paganin,
                   no_flats=args.no_flats, no_darks=args.no_darks)
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


def _run_sweep(args: argparse.Namespace, raw) -> int:
    """``--center-sweep``: normalise three rows around ``--sweep-row``, sweep, write, print."""
    from tomosnake.errors import ConfigError
    from tomosnake.preprocess.center import is_360
    from tomosnake.preprocess.centering import HALF_ACQ_OFFSET
    from tomosnake.preprocess.pipeline import clean_rows, normalise_block, raw_flat_field
    from tomosnake.recon.sweep import METRIC_NAMES, center_sweep, sweep_centers, write_sweep_tiff

    na, nz, nx = raw.proj.shape
    z = nz // 2 if args.sweep_row is None else args.sweep_row
    if not 0 <= z < nz:
        raise ConfigError(f"--sweep-row {z} outside the detector rows 0..{nz - 1}")
    z0, z1 = max(0, z - 1), min(nz, z + 2)
    rows = RawScan(raw.proj[:, z0:z1], raw.theta,
                   None if raw.flat is None else raw.flat[:, z0:z1],
                   None if raw.dark is None else raw.dark[:, z0:z1], raw.meta)
    ff = raw_flat_field(rows, args.no_flats, args.no_darks)
    line = normalise_block(rows.proj, 0, na, ff, where=str(args.input))
    line = clean_rows(line, args.rings)[0]
    centers = sweep_centers(*args.center_sweep)
    theta = np.asarray(raw.theta, dtype=np.float64)
    stitched = bool(is_360(theta) and abs(float(np.median(centers)) - nx / 2)
                    > HALF_ACQ_OFFSET * nx)
    images, metric = center_sweep(line, theta, centers, half_acquisition=stitched,
                                  algorithm=args.algorithm, filter_name=args.filter_name,
                                  device=args.device)
    write_sweep_tiff(args.output, images, centers)
    best = int(np.argmax(metric))
    print(f"centre sweep of row {z} ({'half acquisition, ' if stitched else ''}"
          f"{len(centers)} slices) -> {args.output}")
    print(f"metric: {METRIC_NAMES[stitched]}")
    print(f"| {'centre':>10} | {'metric':>12} |")
    print(f"|{'-' * 12}|{'-' * 14}|")
    for i, (c, m) in enumerate(zip(centers, metric, strict=True)):
        print(f"| {c:10.3f} | {m:12.6g} |" + ("  <- sharpest" if i == best else ""))
    return 0
