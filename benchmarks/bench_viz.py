"""Visualisation benchmark: tomosnake.viz against ome-zarr-py and plain scikit-image.

Run: ``.venv/bin/python benchmarks/bench_viz.py [--size 384]`` (needs ``pip install ome-zarr``).
On a synthetic NMC-like volume (``size/2 x size x size`` voxels, spheres of NMC in CBD
and pore, noisy float32 grey values, plane-chunked zarr stores as the workflow writes
them) each case runs in its own process and reports wall time and its working memory
(peak RSS minus the RSS after imports):

* OME-Zarr, 3 levels, image + labels: ``write_ome_zarr`` (slab loop) against
  ``ome_zarr.writer.write_image`` + ``write_labels`` (dask pyramid, local_mean / nearest);
* surface of the NMC phase: ``phase_mesh`` (z-slabs, closed, step 2) + PLY writer against
  one ``skimage.measure.marching_cubes`` call on the whole padded mask (step 2) + trimesh's
  PLY export;
* all phases within the default size budgets: ``export_meshes`` (size probe, PLY files under
  128 MiB, the report's 1.5 MiB web preview) against marching cubes + trimesh PLY per phase
  at the step ``export_meshes`` chose (no budget search, no preview).

Ratios are ours / reference (lower is better for both time and memory).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PHASES = {"pore": 0, "cbd": 1, "nmc": 2}


def make_volume(root: Path, size: int) -> None:
    """NMC spheres in a random CBD/pore background, written as plane-chunked zarr stores."""
    from tomosnake.io import write_volume

    shape = np.array((size // 2, size, size))
    rng = np.random.default_rng(0)
    labels = (rng.random(tuple(shape)) < 0.25).astype(np.uint8)
    for _ in range(int(np.prod(shape) / 12000)):
        c, r = rng.uniform(0, 1, 3) * shape, rng.uniform(4, 12) * size / 256
        lo, hi = np.maximum((c - r).astype(int), 0), np.minimum((c + r).astype(int) + 1, shape)
        zz, yy, xx = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        inside = (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 < r * r
        labels[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]][inside] = 2
    grey = np.array([0.1, 0.5, 1.0], np.float32)[labels]
    grey += rng.normal(0, 0.05, grey.shape).astype(np.float32)
    write_volume(root / "recon.zarr", grey, {"voxel_size_um": 0.05})
    write_volume(root / "labels.zarr", labels, {"voxel_size_um": 0.05, "phases": PHASES})


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS now, VmHWM peak of this program) in MB."""
    with open("/proc/self/status") as fh:
        line = next(x for x in fh if x.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def run_case(case: str, root: Path, step: int = 2) -> None:
    """Run one case; print wall seconds and peak RSS above the RSS after imports (MB)."""
    import dask.array as da
    import trimesh
    import zarr
    from ome_zarr.writer import write_image, write_labels
    from skimage.measure import marching_cubes

    from tomosnake.io import open_volume
    from tomosnake.viz import export_meshes, phase_mesh, write_ome_zarr, write_ply

    out = root / f"out-{case}"
    base = _status_mb("VmRSS")
    t0 = time.perf_counter()
    if case == "ours_omezarr":
        write_ome_zarr(root / "recon.zarr", root / "labels.zarr", out, levels=3)
    elif case == "ref_omezarr":
        factors = [{"z": 2**k, "y": 2**k, "x": 2**k} for k in (1, 2)]
        group = zarr.open_group(str(out), mode="w")
        write_image(
            da.from_zarr(open_volume(root / "recon.zarr")),
            group,
            axes="zyx",
            scale_factors=factors,
            method="local_mean",
            scale={"z": 0.05, "y": 0.05, "x": 0.05},
        )
        write_labels(
            da.from_zarr(open_volume(root / "labels.zarr")),
            group,
            name="phases",
            axes="zyx",
            scale_factors=factors,
            method="nearest",
        )
    elif case == "ours_mesh":
        verts, faces = phase_mesh(open_volume(root / "labels.zarr"), 2, 0.05, 2)
        write_ply(out.with_suffix(".ply"), verts, faces)
    elif case == "ref_mesh":
        mask = np.pad(np.asarray(open_volume(root / "labels.zarr")[...]) == 2, 2)
        verts, faces, _, _ = marching_cubes(mask.astype(np.float32), 0.5, step_size=2)
        trimesh.Trimesh((verts - 2)[:, ::-1] * 0.05, faces, process=False).export(
            out.with_suffix(".ply")
        )
    elif case == "ours_export":
        step = export_meshes(root / "labels.zarr", out)["step"]
    elif case == "ref_export":
        labels = np.asarray(open_volume(root / "labels.zarr")[...])
        out.mkdir()
        for name, code in PHASES.items():
            mask = np.pad(labels == code, step).astype(np.float32)
            verts, faces, _, _ = marching_cubes(mask, 0.5, step_size=step)
            trimesh.Trimesh((verts - step)[:, ::-1] * 0.05, faces, process=False).export(
                out / f"{name}.ply"
            )
            del mask
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in out.rglob("*.ply")) if out.is_dir() else 0
    print(json.dumps({"s": seconds, "peak_mb": _status_mb("VmHWM") - base, "step": step,
                      "mb": size / 2**20}))


def measure(case: str, root: Path, step: int = 2) -> dict:
    res = subprocess.run(
        [sys.executable, __file__, "--case", case, "--root", str(root), "--step", str(step)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384, help="volume is size/2 x size x size")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--step", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        run_case(args.case, args.root, args.step)
        return
    root = Path(tempfile.mkdtemp(prefix="bench_viz_"))
    try:
        make_volume(root, args.size)
        shape = (args.size // 2, args.size, args.size)
        print(f"volume {shape} (z, y, x), float32 recon {np.prod(shape) * 4 / 2**20:.0f} MiB")
        print(
            f"{'task':<28}{'ours s':>8}{'ref s':>8}{'time':>7}{'ours MB':>9}{'ref MB':>8}"
            f"{'memory':>8}"
        )
        for task, ours, ref in [
            ("OME-Zarr 3 levels + labels", "ours_omezarr", "ref_omezarr"),
            ("NMC surface mesh + PLY", "ours_mesh", "ref_mesh"),
            ("3 phases, budget + preview", "ours_export", "ref_export"),
        ]:
            a = measure(ours, root)
            b = measure(ref, root, a.get("step", 2))
            if ours == "ours_export":
                print(f"  (step {a['step']}: PLY {a['mb']:.0f} MiB ours, {b['mb']:.0f} MiB ref)")
            print(
                f"{task:<28}{a['s']:8.2f}{b['s']:8.2f}{a['s'] / b['s']:7.2f}"
                f"{a['peak_mb']:9.0f}{b['peak_mb']:8.0f}{a['peak_mb'] / b['peak_mb']:8.2f}"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
