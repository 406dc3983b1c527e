"""GPU tortuosity benchmark: tomosnake's torch backend vs taufactor on CUDA (and our CPU solver).

    python benchmarks/bench_morph_gpu.py [--axes z,y,x] [--synthetic 400]

Prints "no GPU" and exits 0 on a machine without CUDA. Cases as in bench_morph.py
(real 256^3 electrode, pore phase; synthetic N^3 blobs, porosity 0.4). Peak GPU memory
from torch.cuda.max_memory_allocated. Reference anchor (TauFactor 2 paper, 500^3):
26 s GPU, 447 s 32-core CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    try:
        import torch
    except ImportError:
        print("no GPU (torch not installed)")
        return 0
    if not torch.cuda.is_available():
        print("no GPU")
        return 0
    from bench_morph import load_case

    from tomosnake.morph import tortuosity

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--axes", default="z,y,x")
    p.add_argument("--synthetic", type=int, default=400)
    p.add_argument("--with-cpu", action="store_true", help="also time our CPU solver")
    args = p.parse_args()
    cases = [("electrode", a) for a in args.axes.split(",")]
    if args.synthetic:
        cases.append((f"synthetic{args.synthetic}", "z"))
    print(f"device: {torch.cuda.get_device_name()}")
    print(
        "| case | axis | ours GPU s | taufactor GPU s | ratio | ours tau | taufactor tau | diff "
        "| ours GiB | taufactor GiB | ours CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    import taufactor

    tortuosity(load_case("synthetic32"), "z", backend="torch", device="cuda")  # warm up
    for case, axis in cases:
        mask = load_case(case)
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
        ours = tortuosity(mask, axis, backend="torch", device="cuda")
        ours_mem = torch.cuda.max_memory_allocated() / 2**30
        img = np.ascontiguousarray(np.moveaxis(mask, "zyx".index(axis), 0)).astype(np.uint8)
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        s = taufactor.Solver(img, device="cuda")
        ref = float(s.solve(verbose=False)[0])
        torch.cuda.synchronize()
        ref_s = time.perf_counter() - t0
        ref_mem = torch.cuda.max_memory_allocated() / 2**30
        del s
        cpu = f"{tortuosity(mask, axis).seconds:.1f}" if args.with_cpu else "-"
        print(
            f"| {case} | {axis} | {ours.seconds:.2f} | {ref_s:.2f} | {ours.seconds / ref_s:.2f} | "
            f"{ours.tau:.4f} | {ref:.4f} | {100 * (ours.tau / ref - 1):+.2f} % | "
            f"{ours_mem:.2f} | {ref_mem:.2f} | {cpu} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
