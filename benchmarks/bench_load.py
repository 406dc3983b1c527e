"""Load test: a beamtime of many small simulated scans, run locally to the summary.

Writes a temporary workflow folder with N simulated scans (default 50), runs
Snakemake with 2 cores to ``results/summary.csv``, then checks that every scan has
its outputs, that ``tomosnake verify`` finds nothing incomplete, and reports wall
time, jobs, and the peak memory of any single job (from Snakemake's benchmark
files) and of the Snakemake process itself.

    .venv/bin/python benchmarks/bench_load.py [--scans 50] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=50)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="tomosnake-load-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "config").mkdir(exist_ok=True)
    names = [f"s{i:03d}" for i in range(args.scans)]
    config = {
        "scans": "config/scans.tsv",
        "simulate": {n: {"shape": [8, 32, 32], "angles": 48, "seed": i,
                         "center_offset": round((i % 7) - 3.1, 1)} for i, n in enumerate(names)},
        "layout": {"slabs": 1},
        "recon": {"crop": 32},
        "segment": {"method": "otsu"},
        "morph": {"metrics": ["fractions", "surface", "connectivity"]},
    }
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    rows = "".join(f"{n}\tresources/sim/{n}.h5\n" for n in names)
    (work / "config" / "scans.tsv").write_text("scan_id\tpath\n" + rows)

    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s",
                           str(REPO / "workflow" / "Snakefile"), "results/summary.csv",
                           "--cores", "2", "--quiet", "progress"],
                          cwd=work, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        print(proc.stderr[-4000:])
        return 1
    peak_child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    job_peaks, jobs = [], 0
    for tsv in (work / "results" / "benchmarks").glob("*/*.tsv"):
        with open(tsv) as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                jobs += 1
                try:
                    job_peaks.append(float(row["max_rss"]))
                except ValueError:
                    pass
    complete = sum((work / "results" / n / "morphology.json").is_file() for n in names)
    with open(work / "results" / "summary.csv") as fh:
        summary_rows = sum(1 for _ in fh) - 1
    verify = subprocess.run([sys.executable, "-m", "tomosnake.cli", "verify", "results"],
                            cwd=work, capture_output=True, text=True)
    print("| scans | jobs | wall (s) | s per scan | max job RSS (MB) | max process RSS (MB) "
          "| scans complete | summary rows | verify |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.scans} | {jobs} | {wall:.0f} | {wall / args.scans:.1f} | "
          f"{max(job_peaks, default=float('nan')):.0f} | {peak_child_mb:.0f} | {complete} | "
          f"{summary_rows} | {'clean' if verify.returncode == 0 else verify.stdout[:200]} |")
    if not args.keep:
        shutil.rmtree(work)
    return 0 if complete == args.scans == summary_rows and verify.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
