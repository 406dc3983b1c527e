"""GPU benchmark: reconstruct a 2048^3 volume from 1500 projections, including zarr I/O.

Writes a synthetic prepared scan (float32 exact line integrals of ellipses, (1500, 2048, 2048),
about 25 GB) to a zarr store under ``--workdir``, then times
``reconstruct_store(..., device="cuda")`` slab by slab into recon.zarr (reading,
reconstructing, writing), and the same code on the CPU for a few slices for the
ratio. Without CuPy or a CUDA GPU it prints "no GPU" and exits 0.

Run: ``python benchmarks/bench_recon_gpu.py [--size 2048 --angles 1500 --slab-rows 32]``
(needs ~60 GB of disk for the full size; ``--size 512 --angles 400`` for a quick check).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr


def _synthetic_scan(path: Path, size: int, n_angles: int, slab_rows: int) -> None:
    """Prepared-scan group: exact line integrals of the Shepp-Logan ellipses (analytic
    generator), scaled per row so slices differ.

    Chunks of (32 angles, slab_rows rows, all columns), so a slab reads only its rows.
    """
    from tomosnake.synth.analytic import project
    from tomosnake.synth.presets import shepp_logan

    theta = np.linspace(0, np.pi, n_angles, endpoint=False)
    root = zarr.open_group(store=str(path), mode="w", zarr_format=3)
    chunk_angles = 32
    proj = root.create_array("proj", shape=(n_angles, size, size), dtype="float32",
                             chunks=(chunk_angles, slab_rows, size))
    root.create_array("theta", shape=theta.shape, dtype="float64")[...] = theta
    root.attrs.update({"center": size / 2, "pixel_size_um": 0.05, "source": "synthetic"})
    ph = shepp_logan(1, size, scale=0.9, mu=0.02)
    zfac = (1 + 0.2 * np.sin(np.linspace(0, 6, size)))[:, None].astype(np.float32)
    for a0 in range(0, n_angles, chunk_angles):
        rows = project(ph, theta[a0 : a0 + chunk_angles], 1, size, size / 2)  # (k, 1, size)
        proj[a0 : a0 + rows.shape[0]] = rows * zfac


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--angles", type=int, default=1500)
    parser.add_argument("--slab-rows", type=int, default=32)
    parser.add_argument("--cpu-slices", type=int, default=4)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    from tomosnake.recon import get_backend, reconstruct, reconstruct_store
    from tomosnake.recon.slabs import read_rows

    if get_backend("auto").device != "cuda":
        print("no GPU: CuPy or a CUDA device is not available; nothing to benchmark")
        return 0
    import cupy

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_recon_gpu_"))
    prep, out = work / "prep.zarr", work / "recon.zarr"
    t = time.perf_counter()
    _synthetic_scan(prep, args.size, args.angles, args.slab_rows)
    t_write = time.perf_counter() - t
    print(f"device: {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}")
    print(f"synthetic scan {args.angles} x {args.size} x {args.size} written in {t_write:.1f} s")

    root = zarr.open_group(store=str(prep), mode="r")
    theta = root["theta"][...]
    sample = read_rows(root["proj"], 0, args.cpu_slices, f"{prep}/proj")
    reconstruct(sample[:, :2], theta, device="cuda")  # gridding matrix + CUDA plans
    t = time.perf_counter()
    gpu = reconstruct(sample, theta, device="cuda")
    t_gpu_few = (time.perf_counter() - t) / args.cpu_slices
    t = time.perf_counter()
    cpu = reconstruct(sample, theta, device="cpu")
    t_cpu = (time.perf_counter() - t) / args.cpu_slices
    err = float(np.abs(gpu - cpu).max() / np.abs(cpu).max())

    t = time.perf_counter()
    reconstruct_store(prep, out, slab_rows=args.slab_rows, device="cuda")
    t_total = time.perf_counter() - t
    n = args.size
    print("\n| step | seconds | per slice (s) |\n|---|---|---|")
    print(f"| CPU gridrec, {args.cpu_slices} slices (no I/O) | {t_cpu * args.cpu_slices:.2f} "
          f"| {t_cpu:.4f} |")
    print(f"| GPU gridrec, {args.cpu_slices} slices (no I/O) | {t_gpu_few * args.cpu_slices:.2f} "
          f"| {t_gpu_few:.4f} |")
    print(f"| GPU slab driver, {n} slices incl. zarr read+write | {t_total:.1f} "
          f"| {t_total / n:.4f} |")
    print(f"\nGPU vs CPU speed-up per slice (compute only): {t_cpu / t_gpu_few:.1f}x; "
          f"max |GPU - CPU| / max |CPU| = {err:.2e}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
