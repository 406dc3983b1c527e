"""Benchmark: tomosnake reconstruction vs astra-toolbox FBP (CPU) and scikit-image iradon.

One 512 x 512 Shepp-Logan slice from 720 angles over 180 degrees (sinogram from
``tomosnake.recon.forward_project``), plus a 64-slice slab: CPU seconds per slice
and RMSE against the phantom for each tool, as ratios to astra. Then the peak
memory (tracemalloc) of the slab driver ``reconstruct_store`` for 128 vs 1024
slices (256 columns, 60 angles, 32-row slabs).

Run: ``.venv/bin/python benchmarks/bench_recon.py`` (about 3 minutes on 2 cores).
"""

from __future__ import annotations

import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from skimage.data import shepp_logan_phantom
from skimage.transform import iradon, resize

from tomosnake.io import RawScan, write_raw_zarr
from tomosnake.recon import forward_project, reconstruct, reconstruct_store

N, N_ANGLES, SLAB = 512, 720, 64
MEM_N, MEM_ANGLES = 256, 60  # slab-driver memory test: columns, angles


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def astra_fbp(sino: np.ndarray, theta: np.ndarray, n: int) -> np.ndarray:
    import astra

    pg = astra.create_proj_geom("parallel", 1.0, sino.shape[1], theta)
    vg = astra.create_vol_geom(n, n)
    pid = astra.create_projector("line", pg, vg)
    sid = astra.data2d.create("-sino", pg, sino)
    rid = astra.data2d.create("-vol", vg)
    cfg = astra.astra_dict("FBP")
    cfg.update(ProjectorId=pid, ProjectionDataId=sid, ReconstructionDataId=rid)
    alg = astra.algorithm.create(cfg)
    astra.algorithm.run(alg)
    rec = astra.data2d.get(rid)
    astra.algorithm.delete(alg)
    astra.data2d.delete([sid, rid])
    astra.projector.delete(pid)
    return rec


def timed(fn, repeat: int = 1):
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def slice_benchmark() -> list[tuple[str, float, float]]:
    phantom = resize(shepp_logan_phantom(), (N, N), anti_aliasing=True).astype(np.float32)
    theta = np.linspace(0, np.pi, N_ANGLES, endpoint=False)
    t0 = time.perf_counter()
    proj = forward_project(phantom[None], theta)
    print(f"sinogram {proj.shape} by forward_project in {time.perf_counter() - t0:.1f} s")
    sino = proj[:, 0]
    reconstruct(proj, theta)  # builds and caches the gridding matrix for this geometry
    rows = []
    t, rec = timed(lambda: reconstruct(proj, theta, algorithm="gridrec"), 3)
    rows.append(("tomosnake gridrec (shepp), 1 slice", t, rmse(rec[0], phantom)))
    t, rec = timed(lambda: reconstruct(proj, theta, algorithm="gridrec", filter_name="ramlak"), 3)
    rows.append(("tomosnake gridrec (ramlak), 1 slice", t, rmse(rec[0], phantom)))
    slab = np.ascontiguousarray(np.repeat(proj, SLAB, axis=1))
    t, rec = timed(lambda: reconstruct(slab, theta, algorithm="gridrec"))
    rows.append((f"tomosnake gridrec (shepp), {SLAB}-slice slab", t / SLAB, rmse(rec[-1], phantom)))
    t, rec = timed(lambda: astra_fbp(sino, theta, N), 2)
    rows.append(("astra FBP (CPU, ram-lak), 1 slice", t, rmse(rec, phantom)))
    t, _ = timed(lambda: [astra_fbp(sino, theta, N) for _ in range(8)])
    rows.append(("astra FBP (CPU), 8 slices", t / 8, rows[-1][2]))
    t, rec = timed(lambda: iradon(sino.T, np.degrees(theta), output_size=N, filter_name="ramp"))
    rows.append(("scikit-image iradon (ramp), 1 slice", t, rmse(rec, phantom)))
    return rows


def memory_benchmark() -> list[tuple[int, float]]:
    theta = np.linspace(0, np.pi, MEM_ANGLES, endpoint=False)
    phantom = resize(shepp_logan_phantom(), (MEM_N, MEM_N)).astype(np.float32)
    one = forward_project(phantom[None], theta)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for nz in (128, 1024):
            prep = Path(tmp) / f"prep{nz}.zarr"
            scan = RawScan(np.repeat(one, nz, axis=1), theta, meta={"center": MEM_N / 2})
            write_raw_zarr(scan, prep)
            reconstruct_store(prep, Path(tmp) / "warm.zarr", slab_rows=32)
            tracemalloc.start()
            reconstruct_store(prep, Path(tmp) / f"recon{nz}.zarr", slab_rows=32)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            out.append((nz, peak / 2**20))
    return out


def main() -> None:
    print(f"cores: {os.cpu_count()}")
    rows = slice_benchmark()
    ref_t, ref_e = rows[3][1], rows[3][2]
    print(f"\n512x512 slice, {N_ANGLES} angles over 180 deg; ratios to astra FBP (CPU) 1 slice\n")
    print(f"| {'method':<42} | s/slice | time / astra | RMSE    | RMSE / astra |")
    print(f"|{'-' * 44}|---------|--------------|---------|--------------|")
    for name, t, e in rows:
        print(f"| {name:<42} | {t:7.3f} | {t / ref_t:12.3f} | {e:.5f} | {e / ref_e:12.3f} |")
    mem = memory_benchmark()
    print(f"\nslab driver peak memory (tracemalloc), {MEM_N} columns, {MEM_ANGLES} angles, "
          "32-row slabs\n")
    print("| slices | peak MiB |")
    print("|--------|----------|")
    for nz, mib in mem:
        print(f"| {nz:6d} | {mib:8.2f} |")
    print(f"\nratio 1024 / 128 slices: {mem[1][1] / mem[0][1]:.3f}")


if __name__ == "__main__":
    main()
