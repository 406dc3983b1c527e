"""Provenance of a beamtime's results: input hashes, software versions, git commit, step times."""

from __future__ import annotations

import csv
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from tomosnake.verify import fingerprint

PACKAGES = ("tomosnake", "numpy", "scipy", "scikit-image", "zarr", "h5py", "torch", "snakemake")


def sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a small file's bytes (the config and scan sheet)."""
    return fingerprint(path)["sha256"]


def git_commit(repo: str | os.PathLike[str] = ".") -> str | None:
    """Commit of the workflow checkout (with ``-dirty`` if it has changes), or None."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=repo, capture_output=True, text=True, timeout=10, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def versions() -> dict[str, str]:
    """Versions of Python and the main packages."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def step_times(results: str | os.PathLike[str]) -> dict[str, list[dict[str, Any]]]:
    """Per scan, the steps that ran and their wall time (s) and peak memory (MB).

    Reads Snakemake benchmark files ``results/benchmarks/{rule}/{scan}[.{slab}].tsv``.
    """
    steps: dict[str, list[dict[str, Any]]] = {}
    for tsv in sorted(Path(results, "benchmarks").glob("*/*.tsv")):
        with open(tsv) as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if not rows:
            continue
        scan, _, part = tsv.stem.partition(".")
        rec = {"rule": tsv.parent.name, "part": part or None, "seconds": float(rows[-1]["s"])}
        try:
            rec["max_rss_mb"] = float(rows[-1]["max_rss"])
        except (KeyError, ValueError):
            pass
        steps.setdefault(scan, []).append(rec)
    return steps


def collect_provenance(
    config: str | os.PathLike[str], scan_sheet: str | os.PathLike[str], results: str
) -> dict[str, Any]:
    """Everything the report shows about how the results were made."""
    return {
        "config": str(config),
        "config_sha256": sha256(config),
        "scan_sheet": str(scan_sheet),
        "scan_sheet_sha256": sha256(scan_sheet),
        "git_commit": git_commit(Path(config).resolve().parent),
        "versions": versions(),
        "steps": step_times(results),
    }
