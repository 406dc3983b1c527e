"""``tomosnake report RESULTS_DIR [--out report.html]``: rebuild the beamtime report.

The scans are the rows of ``--sheet`` (or the ``scan_id`` column of the summary table);
each scan's files are looked up where the workflow writes them
(``RESULTS_DIR/{scan}/morphology.json``, ``center.json``, ``segment_qc.json``,
``truth_check.json``, ``figures/``, ``meshes/``, ``scan.ome.zarr``,
``RESULTS_DIR/benchmarks/{rule}/{scan}*.tsv``); missing ones are left out of the report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from tomosnake.errors import InputError
from tomosnake.viz.report import build_report
from tomosnake.viz.scans import ScanInputs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tomosnake report``."""
    parser.add_argument("results_dir", type=Path, help="the workflow's results folder")
    parser.add_argument("--out", type=Path, default=None,
                        help="HTML file to write (default: RESULTS_DIR/report.html)")
    parser.add_argument("--summary", type=Path, default=None,
                        help="summary table (default: RESULTS_DIR/summary.csv if present)")
    parser.add_argument("--sheet", type=Path, default=None,
                        help="scan sheet (TSV): scan order, sample descriptions, overrides")
    parser.add_argument("--config", type=Path, default=None,
                        help="config YAML: each scan's settings for the methods paragraph")
    parser.add_argument("--group-by", default=None, help="scan-sheet column grouping a series")
    parser.add_argument("--order-by", default=None, help="scan-sheet column ordering a series")
    parser.add_argument("--title", default=None, help="page title")


def _rows(args: argparse.Namespace, summary: Path | None) -> dict[str, dict]:
    if args.sheet is not None:
        from tomosnake.scansheet import read_scan_sheet

        return read_scan_sheet(args.sheet)
    if summary is None:
        raise InputError(f"{args.results_dir}: no summary.csv and no --sheet: which scans?")
    try:
        ids = pd.read_csv(summary)["scan_id"].astype(str)
    except (OSError, ValueError, KeyError, pd.errors.ParserError) as exc:
        raise InputError(f"{summary}: not a summary table with a scan_id column ({exc})") from exc
    return {i: {"scan_id": i} for i in ids}


def _settings(config: dict | None, row: dict) -> dict:
    if config is None:
        return {}
    from tomosnake.scansheet import scan_settings

    return scan_settings(config, row)


def scan_inputs(results: Path, scan: str, row: dict, settings: dict) -> ScanInputs:
    """Where the workflow writes a scan's files under ``results``."""
    folder = results / scan
    return ScanInputs(
        scan_id=scan,
        morphology_json=folder / "morphology.json",
        sheet_row=row,
        settings=settings,
        center_json=folder / "center.json",
        segment_qc_json=folder / "segment_qc.json",
        truth_check_json=folder / "truth_check.json",
        figures_dir=folder / "figures",
        meshes_dir=folder / "meshes",
        ome_zarr=folder / "scan.ome.zarr",
        benchmarks=sorted((results / "benchmarks").glob(f"*/{scan}*.tsv")),
    )


def run(args: argparse.Namespace) -> int:
    """Build the report from existing results and print where it went."""
    results = args.results_dir
    if not results.is_dir():
        raise InputError(f"{results}: results folder does not exist")
    summary = args.summary or (results / "summary.csv")
    summary = summary if summary.exists() or args.summary else None
    rows = _rows(args, summary)
    config = None
    if args.config is not None:
        from tomosnake.config import load_config

        config = load_config(args.config)
    scans = [scan_inputs(results, s, row, _settings(config, row)) for s, row in rows.items()]
    provenance = None
    if args.config is not None and args.sheet is not None:
        from tomosnake.provenance import collect_provenance

        provenance = collect_provenance(args.config, args.sheet, str(results))
    series = {k: v for k, v in (("group_by", args.group_by), ("order_by", args.order_by)) if v}
    out = args.out or results / "report.html"
    path = build_report(out, scans, summary_csv=summary, provenance=provenance,
                        series=series or None,
                        title=args.title or f"tomosnake report: {results.resolve().name}")
    print(f"wrote {path} (open it in any browser; it is self-contained)")
    return 0
