"""Tortuosity benchmark: tomosnake (pyamg-preconditioned CG) vs taufactor's CPU SOR solver.

Each solve runs in its own subprocess so that its peak memory (max RSS) is its own.
Cases: the real 256^3 electrode (``../shared/data/morphology/electrode_taufactor.tiff``,
pore phase) along the chosen axes, and a synthetic blob structure (N^3, porosity 0.4).
taufactor runs with its defaults (``conv_crit=1e-2``, tau stable to 2e-3 between checks
every 100 iterations); ours stops when tau changes by less than 1e-5 per iteration.

    python benchmarks/bench_morph.py [--axes z,y,x] [--synthetic 400] [--skip-taufactor]

Prints a markdown table: seconds, tau, peak RSS for both and the ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ELECTRODE = REPO.parent / "shared" / "data" / "morphology" / "electrode_taufactor.tiff"


def load_case(case: str) -> np.ndarray:
    """Boolean pore mask of a case: 'electrode' or 'synthetic<N>'."""
    if case == "electrode":
        import tifffile

        return tifffile.imread(ELECTRODE) == 0
    n = int(case.removeprefix("synthetic"))
    from scipy import ndimage as ndi

    rng = np.random.default_rng(0)
    field = ndi.gaussian_filter(rng.standard_normal((n, n, n), dtype=np.float32), 4.0)
    return field < np.quantile(field[::4, ::4, ::4], 0.4)


def one(tool: str, case: str, axis: str) -> dict:
    """Run one solve in this process; return seconds, tau, iterations, peak RSS (MiB)."""
    mask = load_case(case)
    if tool == "ours":
        from tomosnake.morph import tortuosity

        t0 = time.perf_counter()
        r = tortuosity(mask, axis)
        seconds, tau, iters = time.perf_counter() - t0, r.tau, r.iterations
    else:
        import taufactor

        img = np.ascontiguousarray(np.moveaxis(mask, "zyx".index(axis), 0)).astype(np.uint8)
        del mask
        t0 = time.perf_counter()
        s = taufactor.Solver(img, device="cpu")
        tau = float(s.solve(verbose=False)[0])
        seconds, iters = time.perf_counter() - t0, s.iter
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "tau": float(tau), "iterations": int(iters), "rss_mib": rss}


def run_child(tool: str, case: str, axis: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", tool, case, axis],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--axes", default="z")
    p.add_argument("--synthetic", type=int, default=400, help="synthetic cube edge (0: skip)")
    p.add_argument("--skip-taufactor", action="store_true")
    p.add_argument("--one", nargs=3, metavar=("TOOL", "CASE", "AXIS"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return 0
    cases = [("electrode", a) for a in args.axes.split(",")]
    if args.synthetic:
        cases.append((f"synthetic{args.synthetic}", "z"))
    print(
        "| case | axis | ours s | taufactor s | time ratio | ours tau | taufactor tau | tau diff "
        "| ours MiB | taufactor MiB | iters ours / tf |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for case, axis in cases:
        ours = run_child("ours", case, axis)
        ref = None if args.skip_taufactor else run_child("taufactor", case, axis)
        if ref is None:
            print(
                f"| {case} | {axis} | {ours['seconds']:.1f} | - | - | {ours['tau']:.4f} | - | - "
                f"| {ours['rss_mib']:.0f} | - | {ours['iterations']} / - |",
                flush=True,
            )
            continue
        print(
            f"| {case} | {axis} | {ours['seconds']:.1f} | {ref['seconds']:.1f} | "
            f"{ours['seconds'] / ref['seconds']:.2f} | {ours['tau']:.4f} | {ref['tau']:.4f} | "
            f"{100 * (ours['tau'] / ref['tau'] - 1):+.2f} % | {ours['rss_mib']:.0f} | "
            f"{ref['rss_mib']:.0f} | {ours['iterations']} / {ref['iterations']} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
