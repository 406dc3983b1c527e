"""``tomosnake morph VOLUME --json OUT``: quantify a labels volume (TIFF stack or zarr store)."""

from __future__ import annotations

import argparse
import logging

from tomosnake.errors import ConfigError

log = logging.getLogger("tomosnake.morph")


def parse_phases(text: str) -> dict[str, int]:
    """``"pore=0,cbd=1,nmc=2"`` -> {"pore": 0, "cbd": 1, "nmc": 2}."""
    out: dict[str, int] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip().lstrip("-").isdigit():
            raise ConfigError(
                f"--phases {text!r}: expected name=label pairs, e.g. pore=0,cbd=1,nmc=2"
            )
        out[name.strip()] = int(value)
    if not out:
        raise ConfigError("--phases: empty")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tomosnake morph``."""
    parser.add_argument("volume", help="labels volume: TIFF stack/folder or zarr store (z, y, x)")
    parser.add_argument("--json", required=True, dest="json_out", help="morphology JSON to write")
    parser.add_argument("--phases", help="name=label,... (default: the store's 'phases' attribute)")
    parser.add_argument(
        "--voxel-size",
        help="voxel edge with unit: 50nm, 0.05um, 0.05µm, 1e-4mm "
        "(default: the store's 'voxel_size_um' attribute)",
    )
    parser.add_argument(
        "--metrics",
        default="fractions,surface,connectivity,tortuosity,sizes",
        help="comma list of fractions (vf), surface (ssa), connectivity, "
        "tortuosity (tau), sizes (psd)",
    )
    parser.add_argument(
        "--phase",
        action="append",
        dest="tort_phases",
        help="phase for tortuosity (repeatable; default: all phases)",
    )
    parser.add_argument(
        "--axis",
        action="append",
        dest="axes",
        choices=("z", "y", "x"),
        help="transport axis (repeatable; default: z, y and x)",
    )


def run(args: argparse.Namespace) -> int:
    """Analyse the volume, write the JSON and log the headline numbers."""
    from tomosnake.morph.analyse import analyse_store, normalise_metrics, summary_row
    from tomosnake.morph.units import parse_voxel_size

    phases = parse_phases(args.phases) if args.phases else None
    voxel = parse_voxel_size(args.voxel_size) if args.voxel_size else None
    metrics = normalise_metrics([m for m in args.metrics.split(",") if m.strip()])
    result = analyse_store(
        args.volume,
        args.json_out,
        metrics=metrics,
        voxel_size_um=voxel,
        phases=phases,
        axes=tuple(args.axes or ("z", "y", "x")),
        tort_phases=args.tort_phases,
    )
    for key, value in summary_row(result).items():
        log.info("%s = %.6g", key, value)
    log.info("wrote %s", args.json_out)
    return 0
