"""Snakemake benchmark files: ``results/benchmarks/{rule}/{scan}.tsv``.

Each file is a tab-separated table with columns ``s`` (wall seconds), ``h:m:s``,
``max_rss`` (MB), ``max_vms``, ``max_uss``, ``max_pss``, ``io_in``, ``io_out``,
``mean_load``, ``cpu_time``; one row per repeat.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from tomosnake.errors import InputError


def read_benchmark(path: str | os.PathLike[str]) -> dict[str, float | None]:
    """Mean wall time ``s``, peak ``max_rss`` (MB), mean ``cpu_time`` (s) of a benchmark file."""
    try:
        table = pd.read_csv(path, sep="\t")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: not a readable Snakemake benchmark table ({exc})") from exc
    if "s" not in table.columns:
        raise InputError(f"{path}: benchmark table has no 's' (seconds) column")

    def stat(column: str, how: str) -> float | None:
        if column not in table.columns:
            return None
        values = pd.to_numeric(table[column], errors="coerce").dropna()
        return float(getattr(np, how)(values)) if len(values) else None

    return {
        "s": stat("s", "mean"),
        "max_rss_mb": stat("max_rss", "max"),
        "cpu_time_s": stat("cpu_time", "mean"),
    }


def _owner(target: str, scans: list[str]) -> str:
    """The scan a benchmark target belongs to ("scan", "scan_slab3", "scan/slab3"), else itself."""
    for scan in sorted(scans, key=len, reverse=True):
        if target == scan or (target.startswith(scan) and target[len(scan)] in "_-./"):
            return scan
    return target


def collect_benchmarks(
    results_dir: str | os.PathLike[str], scans: list[str] | None = None
) -> dict[str, dict[str, dict]]:
    """{scan id (or other target, e.g. "all"): {rule: totals}} from ``results_dir/benchmarks``.

    Files are ``benchmarks/{rule}/{target}.tsv`` (deeper paths allowed); targets such as
    ``{scan}_{slab}`` are summed into their scan. Totals: ``s`` (wall seconds, summed over
    jobs), ``max_rss_mb`` (peak over jobs), ``cpu_time_s`` (summed), ``jobs`` (count).
    """
    root = Path(results_dir) / "benchmarks"
    out: dict[str, dict[str, dict]] = {}
    for path in sorted(root.rglob("*.tsv")):
        rel = path.relative_to(root).with_suffix("")
        if len(rel.parts) < 2:
            continue
        rule, target = rel.parts[0], "/".join(rel.parts[1:])
        bench = read_benchmark(path)
        total = out.setdefault(_owner(target, scans or []), {}).setdefault(
            rule, {"s": 0.0, "max_rss_mb": None, "cpu_time_s": None, "jobs": 0}
        )
        total["jobs"] += 1
        total["s"] += bench["s"] or 0.0
        if bench["max_rss_mb"] is not None:
            total["max_rss_mb"] = max(total["max_rss_mb"] or 0.0, bench["max_rss_mb"])
        if bench["cpu_time_s"] is not None:
            total["cpu_time_s"] = (total["cpu_time_s"] or 0.0) + bench["cpu_time_s"]
    return out
