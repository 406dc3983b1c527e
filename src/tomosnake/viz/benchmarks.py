"""Snakemake benchmark files: ``results/benchmarks/{rule}/{job}.tsv``.

Each file is a tab-separated table with columns ``s`` (wall seconds), ``h:m:s``,
``max_rss`` (MB), ``max_vms``, ``max_uss``, ``max_pss``, ``io_in``, ``io_out``,
``mean_load``, ``cpu_time``; one row per repeat.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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


def sum_benchmarks(paths: Sequence[str | os.PathLike[str]]) -> dict[str, dict]:
    """{rule: totals} over benchmark files ``.../{rule}/{job}.tsv`` (rule = parent folder).

    Totals: ``s`` (wall seconds, summed over jobs, e.g. the slabs of a scan),
    ``max_rss_mb`` (peak over jobs), ``cpu_time_s`` (summed), ``jobs`` (count).
    """
    out: dict[str, dict] = {}
    for path in sorted(Path(p) for p in paths):
        bench = read_benchmark(path)
        total = out.setdefault(
            path.parent.name, {"s": 0.0, "max_rss_mb": None, "cpu_time_s": None, "jobs": 0}
        )
        total["jobs"] += 1
        total["s"] += bench["s"] or 0.0
        if bench["max_rss_mb"] is not None:
            total["max_rss_mb"] = max(total["max_rss_mb"] or 0.0, bench["max_rss_mb"])
        if bench["cpu_time_s"] is not None:
            total["cpu_time_s"] = (total["cpu_time_s"] or 0.0) + bench["cpu_time_s"]
    return out
