"""``tomosnake check``: the preflight of a whole beamtime, for the login node before submitting.

Prints, per scan of the sheet, its format, projection shape, angles, angular range, pixel
size and raw size, and per stage (ingest, recon_slab, segment_slab, morphology:
``tomosnake.layout``) the number of jobs, the peak memory of each job and the core-hours;
then every problem of every scan in one table (:mod:`tomosnake.preflight`). Exit status 0
when the beamtime can run, 2 when anything is wrong (as for every tomosnake error). Header
facts are cached in ``--cache`` (default ``.tomosnake/cache`` in the working directory, the
workflow's), so a re-check, and the workflow's own check after it, read nothing but file
stats.
"""

from __future__ import annotations

import argparse
import sys

from tomosnake.config import load_config
from tomosnake.errors import ConfigError
from tomosnake.io.scaninfo import ScanInfo
from tomosnake.layout import job_sizes, plan_scan
from tomosnake.preflight import DEFAULT_CACHE, collect, format_problems, simulated_infos

STAGES = ("ingest", "recon_slab", "segment_slab", "morphology")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tomosnake check``."""
    parser.add_argument("--config", default="config/config.yaml", help="config YAML file")
    parser.add_argument("--sheet", default=None, help="scan sheet (default: the config's scans)")
    parser.add_argument(
        "--cache", default=DEFAULT_CACHE, help=f"metadata cache folder (default {DEFAULT_CACHE})"
    )
    parser.add_argument("--no-cache", action="store_true", help="read every header again")


def _range(info: ScanInfo) -> str:
    if info.theta_first_deg is None:
        return "-"
    span = "" if info.theta_span_deg is None else f" ({info.theta_span_deg:.1f})"
    return f"{info.theta_first_deg:.1f}..{info.theta_last_deg:.1f}{span}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    )


def scan_rows(
    infos: dict[str, ScanInfo], sheet: dict, settings: dict, layout: dict
) -> tuple[list[list[str]], list[list[str]]]:
    """Rows of the scan table and of the job table (scans whose layout fails are skipped)."""
    scans, jobs = [], []
    totals = {s: [0, 0, 0.0] for s in STAGES}
    for scan, info in infos.items():
        row = sheet[scan]
        pixel = row.get("voxel_size_um") or info.pixel_size_um
        scans.append(
            [
                scan,
                info.format,
                f"{info.n_proj} x {info.n_rows} x {info.n_cols}",
                info.dtype,
                str(info.n_theta),
                _range(info),
                "-" if pixel is None else f"{pixel:g}",
                f"{info.raw_bytes / 1e9:.3f}",
            ]
        )
        try:
            lay = plan_scan(info, settings[scan].get("layout", layout) or {})
        except ConfigError:  # reported as a problem by the preflight
            continue
        crop = settings[scan].get("recon", {}).get("crop") or None
        sizes = job_sizes(lay, None, crop, settings[scan].get("morph"))
        cells = [scan]
        for stage in STAGES:
            s = sizes[stage]
            cells.append(f"{s.jobs} x {s.mem_mb / 1024:.1f} GB, {s.core_hours:.2f} core-h")
            t = totals[stage]
            t[0], t[1], t[2] = t[0] + s.jobs, max(t[1], s.mem_mb), t[2] + s.core_hours
        jobs.append(cells)
    if jobs:
        jobs.append(
            ["total"]
            + [f"{t[0]} x <= {t[1] / 1024:.1f} GB, {t[2]:.2f} core-h" for t in totals.values()]
        )
    return scans, jobs


def run(args: argparse.Namespace) -> int:
    """Check the beamtime of ``args.config`` (and ``args.sheet``); 0 if it can run, else 2."""
    from tomosnake.beamtime import Beamtime

    config = load_config(args.config)
    if args.sheet:
        config["scans"] = args.sheet
    cache = None if args.no_cache else args.cache
    bt = Beamtime(config, cache_dir=cache)  # the workflow's reading of config and sheet
    sheet, settings = bt.scans, bt.settings
    infos, problems = collect(config, sheet, settings, cache, simulated_infos(config, sheet))
    scans, jobs = scan_rows(infos, sheet, settings, config.get("layout") or {})
    if scans:
        print(
            _table(
                [
                    "scan",
                    "format",
                    "projections x rows x cols",
                    "dtype",
                    "angles",
                    "range (deg)",
                    "pixel (um)",
                    "raw (GB)",
                ],
                scans,
            )
        )
        print()
    if jobs:
        print("jobs x peak memory per job, core-hours (estimates: tomosnake.layout)")
        print(_table(["scan", *STAGES], jobs))
        print()
    if problems:
        print(format_problems(problems))
        print(
            f"tomosnake check: {len(problems)} problem(s); fix them before running", file=sys.stderr
        )
        return 2
    _ = bt.models  # every cnn/rf scan has something to train its model (else ConfigError)
    print(f"{len(sheet)} scan(s) checked: no problems found")
    return 0
