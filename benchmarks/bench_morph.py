"""Morphology benchmarks: the tortuosity solver against taufactor, and memory against volume height.

Tortuosity (default): tomosnake's multigrid CG against taufactor's CPU SOR solver on the
real 256^3 electrode (``../shared/data/morphology/electrode_taufactor.tiff``, pore
phase) along the chosen axes, and a synthetic blob structure (N^3, porosity 0.4).
Every solve runs in its own subprocess, so its peak memory (max RSS, imports and the
loaded volume included) is its own; the runs of one case follow each other
(interleaved), so load from other work hits both. taufactor runs twice: with its
defaults (``conv_crit=1e-2``: the time and memory reference) and to a tight tolerance
(``--tight``, default 1e-3: the tau reference). Ours stops when tau changes by less
than 1e-5 per iteration.

    python benchmarks/bench_morph.py [--axes z,y,x] [--synthetic 400] [--tight 1e-3]
                                     [--skip-taufactor] [--skip-tight]

Scale (``--scale``): peak RSS and time of a whole ``analyse_store`` (every metric,
default settings, sample found automatically) on a pillar phantom stored as zarr with
64 and 512 planes of the same slices (``--width``, default 256), each in its own
subprocess; the goal is RSS(512) / RSS(64) <= 1.3. Slabs and blocks hold about
``slab_voxels`` voxels; the smallest volume must hold at least that many (64 planes of
2048^2 hold 16x the default) for the comparison to mean anything.

    python benchmarks/bench_morph.py --scale [--width 256] [--heights 64,512] [--slab-voxels N]

Prints markdown tables with the ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
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


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(tool: str, case: str, axis: str, conv_crit: float) -> dict:
    """One solve in this process: seconds, tau, iterations, peak RSS and RSS before (MiB)."""
    mask = load_case(case)
    if tool == "ours":
        from tomosnake.morph import tortuosity

        before = _rss_mib()
        t0 = time.perf_counter()
        r = tortuosity(mask, axis)
        seconds, tau, iters = time.perf_counter() - t0, r.tau, r.iterations
    else:
        import taufactor

        img = np.ascontiguousarray(np.moveaxis(mask, "zyx".index(axis), 0)).astype(np.uint8)
        del mask
        before = _rss_mib()
        t0 = time.perf_counter()
        s = taufactor.Solver(img, device="cpu")
        tau = float(s.solve(verbose=False, conv_crit=conv_crit)[0])
        seconds, iters = time.perf_counter() - t0, s.iter
    return {
        "seconds": seconds,
        "tau": float(tau),
        "iterations": int(iters),
        "rss_mib": _rss_mib(),
        "before_mib": before,
    }


def pillar(nz: int, n: int, seed: int = 0) -> np.ndarray:
    """Pillar (radius 0.4 n) of a 3-phase microstructure along z, air labelled pore around it."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    out = np.zeros((nz, n, n), np.uint8)
    y, x = np.mgrid[:n, :n] + 0.5 - n / 2
    outside = y**2 + x**2 > (0.4 * n) ** 2
    for z in range(0, nz, 64):  # 64 planes at a time keeps the generator's memory small
        f = ndi.gaussian_filter(rng.standard_normal((min(64, nz - z) + 8, n, n)), 2.0)[4:-4]
        q = np.quantile(f[:, ::4, ::4], [0.35, 0.5])
        lab = np.full(f.shape, 2, np.uint8)
        lab[f < q[1]] = 1
        lab[f < q[0]] = 0
        lab[:, outside] = 0
        out[z : z + lab.shape[0]] = lab
    return out


def scale_one(path: str, slab_voxels: int) -> dict:
    """A whole analyse_store of a labels store in this process: seconds, peak RSS (MiB)."""
    from tomosnake.morph import analyse_store

    before = _rss_mib()
    t0 = time.perf_counter()
    settings = {"slab_voxels": slab_voxels} if slab_voxels else None
    rec = analyse_store(path, None, settings, voxel_size_um=0.05)
    return {
        "seconds": time.perf_counter() - t0,
        "rss_mib": _rss_mib(),
        "before_mib": before,
        "sample_fraction": rec["sample"]["fraction_of_volume"],
        "tau_pore_z": rec["tortuosity"]["pore"]["z"]["tau"],
        "method": rec["tortuosity"]["pore"]["z"]["method"],
    }


def run_child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_tortuosity(args: argparse.Namespace) -> None:
    cases = [("electrode", a) for a in args.axes.split(",")]
    if args.synthetic:
        cases.append((f"synthetic{args.synthetic}", "z"))
    print(
        "| case | axis | ours s | taufactor s | time ratio | ours MiB | taufactor MiB | "
        "memory ratio | ours tau | taufactor tau (1e-2) | taufactor tau (tight) | "
        "diff vs tight | iters ours / tf |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for case, axis in cases:
        ours = run_child("--one", "ours", case, axis, "0")
        ref = None if args.skip_taufactor else run_child("--one", "tf", case, axis, "1e-2")
        tight = None
        if not (args.skip_taufactor or args.skip_tight):
            tight = run_child("--one", "tf", case, axis, str(args.tight))
        cells = [case, axis, f"{ours['seconds']:.1f}"]
        if ref:
            cells += [
                f"{ref['seconds']:.1f}",
                f"{ours['seconds'] / ref['seconds']:.3f}",
                f"{ours['rss_mib']:.0f}",
                f"{ref['rss_mib']:.0f}",
                f"{ours['rss_mib'] / ref['rss_mib']:.2f}",
                f"{ours['tau']:.5f}",
                f"{ref['tau']:.5f}",
            ]
        else:
            cells += ["-", "-", f"{ours['rss_mib']:.0f}", "-", "-", f"{ours['tau']:.5f}", "-"]
        if tight:
            cells += [f"{tight['tau']:.5f}", f"{100 * (ours['tau'] / tight['tau'] - 1):+.3f} %"]
        else:
            cells += ["-", "-"]
        cells.append(f"{ours['iterations']} / {ref['iterations'] if ref else '-'}")
        print("| " + " | ".join(cells) + " |", flush=True)


def bench_scale(args: argparse.Namespace) -> None:
    from tomosnake.io import write_volume

    heights = [int(h) for h in args.heights.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-morph-") as tmp:
        for h in heights:
            path = Path(tmp) / f"labels{h}.zarr"
            attrs = {"phases": {"pore": 0, "cbd": 1, "nmc": 2}, "voxel_size_um": 0.05}
            write_volume(path, pillar(h, args.width), attrs)
            rows.append((h, run_child("--scale-one", str(path), str(args.slab_voxels))))
    budget = args.slab_voxels or "default"
    print(
        f"\nScale: analyse_store (all metrics, defaults, slab_voxels {budget}), "
        f"pillar in {args.width}^2 slices"
    )
    print("| planes | seconds | peak RSS MiB | RSS before MiB | sample fraction | tau pore z "
          "(method) | RSS / first | time / first |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    h0, r0 = rows[0]
    for h, r in rows:
        print(
            f"| {h} | {r['seconds']:.1f} | {r['rss_mib']:.0f} | {r['before_mib']:.0f} | "
            f"{r['sample_fraction']:.3f} | {r['tau_pore_z']:.3f} ({r['method']}) | "
            f"{r['rss_mib'] / r0['rss_mib']:.2f} | {r['seconds'] / r0['seconds']:.2f} "
            f"(planes x{h / h0:.0f}) |"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--axes", default="z")
    p.add_argument("--synthetic", type=int, default=400, help="synthetic cube edge (0: skip)")
    p.add_argument("--tight", type=float, default=1e-3, help="taufactor conv_crit for tau")
    p.add_argument("--skip-taufactor", action="store_true")
    p.add_argument("--skip-tight", action="store_true")
    p.add_argument("--scale", action="store_true", help="RSS of analyse_store vs height")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--heights", default="64,512")
    p.add_argument(
        "--slab-voxels",
        type=int,
        default=0,
        help="morph.slab_voxels (0: the default, 2^24; keep it <= planes x width^2 of the "
        "lowest volume so that both volumes fill their slabs)",
    )
    p.add_argument(
        "--one", nargs=4, metavar=("TOOL", "CASE", "AXIS", "CRIT"), help=argparse.SUPPRESS
    )
    p.add_argument("--scale-one", nargs=2, metavar=("PATH", "SLAB"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        tool, case, axis, crit = args.one
        print(json.dumps(one(tool, case, axis, float(crit))))
        return 0
    if args.scale_one:
        print(json.dumps(scale_one(args.scale_one[0], int(args.scale_one[1]))))
        return 0
    if args.scale:
        bench_scale(args)
    else:
        bench_tortuosity(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
