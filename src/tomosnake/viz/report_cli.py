"""``tomosnake report RESULTS_DIR [--out report.html]``: rebuild the beamtime report."""

from __future__ import annotations

import argparse
from pathlib import Path

from tomosnake.viz.report import build_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tomosnake report``."""
    parser.add_argument("results_dir", type=Path, help="the workflow's results folder")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="HTML file to write (default: RESULTS_DIR/report.html)",
    )
    parser.add_argument(
        "--summary",
        type=Path,
        default=None,
        help="summary table (default: RESULTS_DIR/summary.csv if present)",
    )


def run(args: argparse.Namespace) -> int:
    """Build the report from existing results and print where it went."""
    out = args.out or args.results_dir / "report.html"
    path = build_report(args.results_dir, out, summary_csv=args.summary)
    print(f"wrote {path} (open it in any browser; it is self-contained)")
    return 0
