"""The morphology job at full slice size: bytes read and peak memory against the scan's height.

Writes pillar-in-air labels (``bench_morph.pillar``: radius 0.4 n, three phases, air labelled
pore) of n x n slices and each height as zarr stores chunked like the workflow's labels
(4 planes x 512^2), then runs ``analyse_store`` (the morphology job's call: auto sample
region, default settings) for the chosen metrics, each run in a fresh process, and prints per
height: bytes of zarr chunks read / the store's chunk bytes, peak RSS (VmHWM) and seconds,
and the ratios of the tallest height to the first (goals of issue 13: read <= 1.2x,
memory ratio <= 1.3x).

    python benchmarks/bench_morph_job.py --n 2048 --heights 64 512 \\
        --metrics fractions connectivity tortuosity
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PHASES = {"pore": 0, "cbd": 1, "nmc": 2}


def make_store(path: Path, nz: int, n: int) -> Path:
    """Pillar labels (nz, n, n) as a zarr store with the workflow's label chunks (kept)."""
    from bench_morph import pillar

    from tomosnake.io import atomic_output
    from tomosnake.io.volume import create_volume

    if path.exists():
        return path
    with atomic_output(path) as tmp:
        arr = create_volume(tmp, (nz, n, n), np.uint8,
                            {"phases": PHASES, "voxel_size_um": 0.05}, chunks=(4, 512, 512))
        for z in range(0, nz, 16):
            arr[z : z + 16] = pillar(min(16, nz - z), n, seed=z)
    return path


def child(path: str, metrics: str) -> None:
    """One analyse_store in this process; prints read ratio, VmHWM (MiB) and seconds."""
    from tomosnake.io.iocount import counting
    from tomosnake.morph import analyse_store

    t0 = time.perf_counter()
    with counting() as read:
        analyse_store(path, None, None, metrics=metrics.split(","), threads=2)
    seconds = time.perf_counter() - t0
    hwm = next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM"))
    chunks = sum(f.stat().st_size for f in Path(path).rglob("*")
                 if f.is_file() and f.name != "zarr.json")
    print(json.dumps({"read": read["zarr"] / chunks, "mib": int(hwm.split()[1]) / 1024,
                      "seconds": seconds}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2048, help="slice width (voxels)")
    ap.add_argument("--heights", type=int, nargs="+", default=[64, 512])
    ap.add_argument("--metrics", nargs="+", default=["fractions", "connectivity", "tortuosity"])
    ap.add_argument("--dir", type=Path, default=HERE.parent / ".tmp" / "bench_morph_job")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    sys.path.insert(0, str(HERE))
    args.dir.mkdir(parents=True, exist_ok=True)
    metrics = ",".join(args.metrics)
    rows = []
    for nz in args.heights:
        store = make_store(args.dir / f"pillar_{nz}x{args.n}.zarr", nz, args.n)
        out = subprocess.run([sys.executable, __file__, "--child", str(store), metrics],
                             check=True, capture_output=True, text=True)
        rows.append((nz, json.loads(out.stdout.strip().splitlines()[-1])))
    print(f"morphology job, {args.n}^2 slices, metrics {metrics}\n")
    print("| planes | read / store | peak RSS MiB | seconds |")
    print("|---|---|---|---|")
    for nz, r in rows:
        print(f"| {nz} | {r['read']:.2f} | {r['mib']:.0f} | {r['seconds']:.0f} |")
    (n0, a), (n1, b) = rows[0], rows[-1]
    print(f"\n{n1} / {n0} planes: memory {b['mib'] / a['mib']:.2f} (goal <= 1.3), "
          f"time {b['seconds'] / a['seconds']:.1f} (planes x{n1 / n0:.0f})")


if __name__ == "__main__":
    main()
