"""How long Snakemake takes to plan a beamtime: `snakemake -n` for 2 .. 200 scans.

Each scan fans out into `--slabs` reconstruction and segmentation slab jobs. The scan sheet
and config are generated in a temp dir (simulated scans, nothing is computed); the dry run is
timed once with the local profile and once with profiles/slurm (which adds the grouping of
chunk jobs). Goal: under 30 s for a 200-scan beamtime on the development machine.

    .venv/bin/python benchmarks/bench_dag.py [--scans 2 20 200] [--slabs 8]
"""

from __future__ import annotations

import argparse
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL_S = 30.0
GROUP_SIZE = 8  # group-components of the chunk groups in profiles/slurm


def write_beamtime(work: Path, n_scans: int, slabs: int) -> None:
    (work / "config").mkdir(parents=True)
    names = [f"s{i:03d}" for i in range(n_scans)]
    sims = "\n".join(
        f"  {n}: {{shape: [32, 96, 96], angles: 181, range: 180, center_offset: 1.5, seed: {i}}}"
        for i, n in enumerate(names)
    )
    (work / "config" / "config.yaml").write_text(
        f"scans: config/scans.tsv\nsimulate:\n{sims}\n"
        f"layout: {{slabs: {slabs}}}\n"
        f"segment: {{method: cnn, train_scans: [{names[0]}]}}\n"
    )
    rows = "".join(f"{n}\tresources/sim/{n}.h5\tdxchange\t96\n" for n in names)
    (work / "config" / "scans.tsv").write_text("scan_id\tpath\tformat\trecon.crop\n" + rows)


def dry_run(work: Path, profile: str) -> tuple[float, float, dict[str, int]]:
    """Wall and CPU seconds of `snakemake -n` (the whole process: parse, DAG, scheduling plan)
    and the job counts. CPU time is what the wall time would be on an idle machine (the dry run
    is single-threaded), so it is the number to compare when the machine is shared."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "-n",
         "--quiet",
         "rules", "--profile", str(REPO / "profiles" / profile)],
        cwd=work, capture_output=True, text=True, env=env,
    )
    seconds = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if out.returncode != 0:
        raise SystemExit(f"snakemake -n failed in {work}:\n{out.stderr[-3000:]}")
    counts = {m.group(1): int(m.group(2))
              for m in re.finditer(r"^(\w+)\s+(\d+)$", out.stdout + out.stderr, re.M)}
    return seconds, cpu, counts


def slurm_submissions(counts: dict[str, int]) -> int:
    """SLURM jobs the slurm profile submits: chunk jobs packed GROUP_SIZE to a job."""
    chunked = {"ingest", "recon_slab", "segment_slab"}
    return sum(math.ceil(n / GROUP_SIZE) if rule in chunked else n
               for rule, n in counts.items() if rule not in ("total", "all"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scans", type=int, nargs="+", default=[2, 20, 200])
    ap.add_argument("--slabs", type=int, default=8, help="slab jobs per scan and stage (the "
                    "32-row demo scans allow 8 of 4 rows)")
    args = ap.parse_args()
    rows = []
    for n in args.scans:
        with tempfile.TemporaryDirectory(prefix=f"bench_dag_{n}_") as tmp:
            work = Path(tmp)
            write_beamtime(work, n, args.slabs)
            wall_l, cpu_l, counts = dry_run(work, "local")
            wall_s, cpu_s, _ = dry_run(work, "slurm")
            rows.append((n, counts.get("total", 0), slurm_submissions(counts),
                         wall_l, cpu_l, wall_s, cpu_s))
    base = rows[0]
    print(f"snakemake -n, {args.slabs} slabs per scan and stage, goal < {GOAL_S:.0f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'scans':>6} {'jobs':>7} {'SLURM jobs':>10} {'local wall':>10} {'local CPU':>9} "
          f"{'slurm wall':>10} {'slurm CPU':>9} {'CPU/goal':>8} {'CPU vs row 1':>12}")
    for n, jobs, subs, wl, cl, ws, cs in rows:
        print(f"{n:>6} {jobs:>7} {subs:>10} {wl:>9.1f}s {cl:>8.1f}s {ws:>9.1f}s {cs:>8.1f}s "
              f"{cs / GOAL_S:>8.2f} {cs / base[6]:>11.1f}x")


if __name__ == "__main__":
    main()
