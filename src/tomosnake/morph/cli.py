"""``tomosnake morph VOLUME --json OUT``: quantify a labels volume (TIFF stack or zarr store)."""

from __future__ import annotations

import argparse
import logging
import math

from tomosnake.errors import ConfigError
from tomosnake.phases import parse_phases

log = logging.getLogger("tomosnake.morph")


def _range(text: str, option: str) -> list[int]:
    a, sep, b = text.partition(":")
    if not sep or not a.strip().isdigit() or not b.strip().isdigit():
        raise ConfigError(f"{option} {text!r}: expected START:STOP voxel indices")
    return [int(a), int(b)]


def parse_box(text: str) -> list[list[int]]:
    """``"0:64,10:90,10:90"`` -> [[0, 64], [10, 90], [10, 90]] (z, y, x, half-open)."""
    parts = text.split(",")
    if len(parts) != 3:
        raise ConfigError(f"--box {text!r}: expected Z0:Z1,Y0:Y1,X0:X1 (voxels)")
    return [_range(p, "--box") for p in parts]


def parse_cylinder(text: str) -> dict:
    """``"Y,X,R"`` or ``"Y,X,R,Z0:Z1"`` -> {center_yx, radius[, z]} (voxels)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        y, x, r = (float(p) for p in parts[:3])
    except ValueError:
        y = x = r = math.nan
    if len(parts) not in (3, 4) or not all(math.isfinite(v) for v in (y, x, r)):
        raise ConfigError(f"--cylinder {text!r}: expected Y,X,RADIUS[,Z0:Z1] (voxels)")
    out: dict = {"center_yx": [y, x], "radius": r}
    if len(parts) == 4:
        out["z"] = _range(parts[3], "--cylinder")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tomosnake morph``."""
    parser.add_argument("volume", help="labels volume: TIFF stack/folder or zarr store (z, y, x)")
    parser.add_argument("--json", required=True, dest="json_out", help="morphology JSON to write")
    parser.add_argument("--phases", help="name=label,... (default: the store's 'phases' attribute)")
    parser.add_argument(
        "--voxel-size",
        help="voxel edge with unit: 50nm, 0.05um, 0.05µm, 1e-4mm (default: the store's "
        "'voxel_size_um' attribute; without one, only fractions, connectivity and "
        "tortuosity run, in voxel units)",
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
    parser.add_argument(
        "--sample",
        choices=("auto", "none", "box", "cylinder"),
        help="sample region: auto (found from the labels, default), none (whole volume), "
        "box or cylinder (with --box / --cylinder)",
    )
    parser.add_argument("--box", help="sample box Z0:Z1,Y0:Y1,X0:X1 (voxels, half-open)")
    parser.add_argument("--cylinder", help="sample cylinder along z: Y,X,RADIUS[,Z0:Z1] (voxels)")
    parser.add_argument(
        "--tau-max-voxels",
        type=int,
        help="largest sample box solved whole; larger samples: cubes (default 256^3)",
    )
    parser.add_argument("--cube", type=int, help="edge of the largest tortuosity cube (voxels)")
    parser.add_argument("--cubes", type=int, help="tortuosity cubes per size")
    parser.add_argument("--threads", type=int, help="threads to use (default: all CPUs)")


def settings_from_args(args: argparse.Namespace) -> dict:
    """The ``morph`` settings the command-line options ask for."""
    from tomosnake.morph.settings import normalise_metrics

    out: dict = {"metrics": list(normalise_metrics(args.metrics))}
    if args.axes:
        out["axes"] = list(args.axes)
    if args.tort_phases:
        out["tortuosity_phases"] = list(args.tort_phases)
    sample: dict = {}
    if args.box:
        sample.update(mode="box", box=parse_box(args.box))
    if args.cylinder:
        sample.update(mode="cylinder", cylinder=parse_cylinder(args.cylinder))
    if args.sample:
        sample["mode"] = args.sample
    if sample:
        out["sample"] = sample
    for key, value in (
        ("tortuosity_max_voxels", args.tau_max_voxels),
        ("tortuosity_cube_vox", args.cube),
        ("tortuosity_cubes", args.cubes),
    ):
        if value is not None:
            out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    """Analyse the volume, write the JSON and log the headline numbers."""
    from tomosnake.morph.analyse import analyse_store, summary_row
    from tomosnake.morph.units import parse_voxel_size

    phases = parse_phases(args.phases) if args.phases else None
    voxel = parse_voxel_size(args.voxel_size) if args.voxel_size else None
    result = analyse_store(
        args.volume,
        args.json_out,
        settings_from_args(args),
        voxel_size_um=voxel,
        phases=phases,
        threads=args.threads,
    )
    s = result["sample"]
    log.info("sample: %s, %d voxels (%.1f %% of the volume)", s["mode"], s["voxels"],
             100 * s["fraction_of_volume"])  # fmt: skip
    for key, value in summary_row(result).items():
        log.info("%s = %.6g", key, value)
    log.info("wrote %s", args.json_out)
    return 0
