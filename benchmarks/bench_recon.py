"""Benchmark: tomosnake reconstruction vs astra-toolbox FBP (CPU), and the large-scan generator.

1. Accuracy and speed at 512 x 512, 720 angles over 180 degrees. The sinogram is the exact,
   pixel-integrated line integrals of the modified Shepp-Logan ellipses
   (:func:`tomosnake.synth.presets.shepp_logan`, closed-form chords: no projector of ours or
   astra's made it); RMSE against the ellipses' pixel averages (8 x 8 samples per pixel).
   Every method runs once per round, ``ROUNDS`` interleaved rounds; times are medians, ratios
   to astra's FBP (``line`` projector, Ram-Lak) on one slice in the same run.
2. Per-row centres (a tilted axis) in a 64-slice gridrec slab vs one centre.
3. The analytic large-scan generator: seconds per 100 projections of a 2048-column NMC-pillar
   scan written as DXchange, for 64 and 256 rows.
4. Peak memory (tracemalloc) of the slab driver ``reconstruct_store`` for 128 vs 1024 slices.

Run: ``.venv/bin/python benchmarks/bench_recon.py`` (about 5 minutes on 2 cores; ``--quick``
skips parts 3 and 4).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from skimage.transform import iradon

from tomosnake.io import RawScan, write_raw_zarr
from tomosnake.recon import reconstruct, reconstruct_store
from tomosnake.synth.analytic import project, voxelize
from tomosnake.synth.largescan import drift_path, write_analytic_scan
from tomosnake.synth.presets import nmc_pillar, shepp_logan

N, N_ANGLES, SLAB, ROUNDS = 512, 720, 64, 5
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


def slice_benchmark() -> list[tuple[str, float, float]]:
    ph = shepp_logan(1, N)
    theta = np.linspace(0, np.pi, N_ANGLES, endpoint=False)
    proj = project(ph, theta, 1, N, N / 2)
    truth = voxelize(ph, 0, 1, N, supersample=8)[0][0]
    sino = proj[:, 0]
    slab = np.ascontiguousarray(np.repeat(proj, SLAB, axis=1))
    tilt = N / 2 + 0.02 * (np.arange(SLAB) - SLAB / 2)
    # name: (function, slices it makes, timed in every round)
    methods = {
        "tomosnake gridrec (shepp), 1 slice": (lambda: reconstruct(proj, theta)[0], 1),
        "tomosnake gridrec (ramlak), 1 slice":
            (lambda: reconstruct(proj, theta, filter_name="ramlak")[0], 1),
        f"tomosnake gridrec (shepp), {SLAB}-slice slab":
            (lambda: reconstruct(slab, theta)[-1], SLAB),
        f"tomosnake gridrec, {SLAB} slices, per-row centres":
            (lambda: reconstruct(slab, theta, tilt)[SLAB // 2], SLAB),
        "tomosnake gridrec, tomopy_exact (tomopy's, unpadded)":
            (lambda: reconstruct(proj, theta, tomopy_exact=True)[0], 1),
        "astra FBP (CPU, ram-lak), 1 slice": (lambda: astra_fbp(sino, theta, N), 1),
        "tomosnake fbp (ramlak), 1 slice, one run":
            (lambda: reconstruct(proj, theta, algorithm="fbp", filter_name="ramlak")[0], 1),
        "scikit-image iradon (ramp), 1 slice":
            (lambda: iradon(sino.T, np.degrees(theta), output_size=N, filter_name="ramp"), 1),
    }
    times: dict[str, list[float]] = {k: [] for k in methods}
    errors: dict[str, float] = {}
    for name, (fn, _) in methods.items():  # warm-up: geometry tables, FFT plans
        if "one run" not in name:  # the Siddon fbp matrix is too large to cache: no warm-up
            fn()
    for r in range(ROUNDS):
        for name, (fn, per) in methods.items():
            if "one run" in name and r:
                continue
            t0 = time.perf_counter()
            rec = fn()
            times[name].append((time.perf_counter() - t0) / per)
            errors[name] = rmse(rec, truth)
    return [(k, float(np.median(v)), errors[k]) for k, v in times.items()]


def generator_benchmark() -> list[tuple[int, int, int, float, float]]:
    """(rows, projections, objects, wall s and CPU s per 100 projections), 2048 columns."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for rows, n_proj in ((64, 100), (256, 100)):
            ph = nmc_pillar(rows, 2048, seed=1)
            t0, c0 = time.perf_counter(), time.process_time()
            write_analytic_scan(Path(tmp) / f"s{rows}.h5", ph, n_proj, rows, 2048,
                                tilt_px_per_row=0.01, shifts=drift_path(n_proj, 2.0),
                                flats_after=True, flat_drift=0.03, n_flats=5, n_darks=3)
            out.append((rows, n_proj, len(ph.objects),
                        (time.perf_counter() - t0) * 100 / n_proj,
                        (time.process_time() - c0) * 100 / n_proj))
    return out


def memory_benchmark() -> list[tuple[int, float]]:
    theta = np.linspace(0, np.pi, MEM_ANGLES, endpoint=False)
    one = project(shepp_logan(1, MEM_N), theta, 1, MEM_N, MEM_N / 2)
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the slice benchmark")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    rows = slice_benchmark()
    ref = next(r for r in rows if r[0].startswith("astra"))
    print(f"\n{N}x{N} Shepp-Logan, exact line integrals, {N_ANGLES} angles over 180 deg; "
          f"median of {ROUNDS} interleaved rounds; ratios to astra FBP (CPU) 1 slice\n")
    print(f"| {'method':<54} | s/slice | time / astra | RMSE    | RMSE / astra |")
    print(f"|{'-' * 56}|---------|--------------|---------|--------------|")
    for name, t, e in rows:
        print(f"| {name:<54} | {t:7.3f} | {t / ref[1]:12.3f} | {e:.5f} | {e / ref[2]:12.3f} |")
    if args.quick:
        return
    gen = generator_benchmark()
    print("\nanalytic large-scan generator: NMC pillar, 2048 columns, DXchange uint16 with "
          "Poisson noise, tilt, drift, flats before and after\n")
    print("| rows | projections | objects | wall s per 100 projections | CPU s per 100 |")
    print("|------|-------------|---------|----------------------------|---------------|")
    for nr, npj, nobj, wall, cpu in gen:
        print(f"| {nr:4d} | {npj:11d} | {nobj:7d} | {wall:26.1f} | {cpu:13.1f} |")
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
