"""``tomosnake simulate``: write a simulated raw scan and its ground truth."""

from __future__ import annotations

import argparse
import logging

from tomosnake.synth.beamtime import make_spec, write_simulated_scan

log = logging.getLogger("tomosnake")


def _shape(text: str) -> tuple[int, int, int]:
    try:
        z, y, x = (int(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected Z,Y,X integers, got {text!r}") from exc
    return z, y, x


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tomosnake simulate``."""
    parser.add_argument("output", help="scan file (.h5 DXchange) or folder (--format tiff)")
    parser.add_argument("--format", default="dxchange", choices=["dxchange", "tiff"])
    parser.add_argument("--shape", type=_shape, default=(32, 96, 96), help="sample Z,Y,X voxels")
    parser.add_argument("--angles", type=int, default=181, help="number of projections")
    parser.add_argument("--range", type=float, default=180.0, choices=[180.0, 360.0],
                        help="rotation range, degrees")
    parser.add_argument("--center-offset", type=float, default=3.3,
                        help="rotation axis minus detector middle, pixels")
    parser.add_argument("--photons", type=float, default=20000.0, help="flat-field counts")
    parser.add_argument("--nmc-fraction", type=float, default=0.45)
    parser.add_argument("--pixel-size-um", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    """Simulate and write the scan; log where the truth went and the true centre."""
    spec = make_spec(
        shape=args.shape,
        angles=args.angles,
        range=args.range,
        center_offset=args.center_offset,
        photons=args.photons,
        nmc_fraction=args.nmc_fraction,
        pixel_size_um=args.pixel_size_um,
        seed=args.seed,
    )
    scan_path, truth = write_simulated_scan(args.output, spec, fmt=args.format)
    log.info("wrote %s (truth %s); true centre %.2f px", scan_path, truth, spec.true_center)
    return 0
