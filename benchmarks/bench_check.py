"""How long the preflight of a 200-scan beamtime takes: `tomosnake check`, cold and warm cache.

Builds a beamtime in a temp dir: `--h5` DXchange files and `--tiff` TIFF-stack folders with
realistic headers and tiny pixel data (HDF5: `--angles` frames of `--rows` x `--cols`, one
gzip chunk of zeros per frame written directly, 20 flats, 10 darks, angles, pixel size; TIFF:
`--tiff-angles` one-frame files of 16 x 16 pixels plus flats, darks and scan.json). Then, in
the same run and interleaved `--repeat` times:

- `tomosnake check` as a user runs it (a new process: imports, config, sheet, headers), with
  an empty metadata cache (cold) and again with the cache it filled (warm);
- the library call the workflow makes, `preflight.check_beamtime(...)`, with a warm cache
  (what the check adds to a Snakemake dry run);
- the reference: the least any header reader does, in the same process: open each HDF5 file
  with h5py and read the data shape and the angles; list each TIFF folder and read the tags
  of its first frame and scan.json.

Goals (issue 17): cold `tomosnake check` < 10 s, warm library call < 2 s. "Cold" means an
empty tomosnake cache; the files themselves are in the OS page cache (just written).

    .venv/bin/python benchmarks/bench_check.py [--h5 100] [--tiff 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import h5py
import numpy as np
import tifffile

REPO = Path(__file__).resolve().parents[1]
GOAL_COLD_S, GOAL_WARM_S = 10.0, 2.0


def write_h5(path: Path, n: int, nz: int, nx: int) -> None:
    """A DXchange file of n frames nz x nx whose chunks are gzip'd zeros (written directly)."""
    zeros = zlib.compress(bytes(nz * nx * 2), 6)
    with h5py.File(path, "w") as fh:
        for name, count in (("data", n), ("data_white", 20), ("data_dark", 10)):
            ds = fh.create_dataset(
                f"/exchange/{name}",
                shape=(count, nz, nx),
                dtype="<u2",
                chunks=(1, nz, nx),
                compression="gzip",
            )
            for i in range(count):
                ds.id.write_direct_chunk((i, 0, 0), zeros)
        fh["/exchange/theta"] = np.linspace(0, 180, n, endpoint=False)
        fh["/exchange/theta"].attrs["units"] = "deg"
        res = "/measurement/instrument/detection_system/objective/resolution"
        fh[res] = 0.65
        fh[res].attrs["units"] = "um"


def write_tiff_folder(folder: Path, n: int, frame: bytes) -> None:
    folder.mkdir()
    for kind, count in (("proj", n), ("flat", 20), ("dark", 10)):
        for i in range(count):
            (folder / f"{kind}_{i:05d}.tif").write_bytes(frame)
    side = {
        "layout": "tomosnake-tiff-scan/1",
        "angles_deg": np.linspace(0, 180, n, endpoint=False).tolist(),
        "pixel_size_um": 0.65,
    }
    (folder / "scan.json").write_text(json.dumps(side))


def write_beamtime(work: Path, n_h5: int, n_tiff: int, args: argparse.Namespace) -> Path:
    data = work / "data"
    data.mkdir()
    rows = []
    for i in range(n_h5):
        write_h5(data / f"scan{i:03d}.h5", args.angles, args.rows, args.cols)
        rows.append(f"h5_{i:03d}\t{data / f'scan{i:03d}.h5'}")
    tiff = work / "frame.tif"
    tifffile.imwrite(tiff, np.zeros((16, 16), np.uint16), photometric="minisblack")
    frame = tiff.read_bytes()
    for i in range(n_tiff):
        write_tiff_folder(data / f"tiff{i:03d}", args.tiff_angles, frame)
        rows.append(f"tiff_{i:03d}\t{data / f'tiff{i:03d}'}")
    (work / "scans.tsv").write_text("scan_id\tpath\n" + "\n".join(rows) + "\n")
    config = work / "config.yaml"
    config.write_text(f"scans: {work / 'scans.tsv'}\n")
    return config


def run_check(config: Path, cache: Path) -> tuple[float, float]:
    """Wall and CPU seconds of `tomosnake check` in a new process."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tomosnake.cli",
            "check",
            "--config",
            str(config),
            "--cache",
            str(cache),
        ],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"tomosnake check failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return wall, (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)


def timed(fn) -> tuple[float, float]:
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def bare_headers(sheet: dict) -> None:
    """The reference: the least a header reader does per scan."""
    for row in sheet.values():
        path = Path(row["path"])
        if path.is_dir():
            names = os.listdir(path)
            assert len(names) > 1
            json.loads((path / "scan.json").read_text())
            with tifffile.TiffFile(path / "proj_00000.tif") as tf:
                _ = tf.pages.first.shape, tf.pages.first.dtype
        else:
            with h5py.File(path, "r") as fh:
                _ = fh["/exchange/data"].shape, fh["/exchange/theta"][()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--h5", type=int, default=100, help="DXchange scans")
    ap.add_argument("--tiff", type=int, default=100, help="TIFF-stack scans")
    ap.add_argument("--angles", type=int, default=1500, help="HDF5 projections per scan")
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--cols", type=int, default=2048)
    ap.add_argument("--tiff-angles", type=int, default=300, help="TIFF projections per scan")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from tomosnake.config import load_config
    from tomosnake.preflight import check_beamtime
    from tomosnake.scansheet import read_scan_sheet, scan_settings

    with tempfile.TemporaryDirectory(prefix="bench_check_") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        config = write_beamtime(work, args.h5, args.tiff, args)
        n_files = sum(len(files) for _, _, files in os.walk(work / "data"))
        print(
            f"beamtime: {args.h5} DXchange ({args.angles} x {args.rows} x {args.cols}) + "
            f"{args.tiff} TIFF folders ({args.tiff_angles} projections); {n_files} files, "
            f"written in {time.perf_counter() - t0:.1f} s"
        )
        cfg = load_config(config)
        sheet = read_scan_sheet(cfg["scans"])
        settings = {s: scan_settings(cfg, row) for s, row in sheet.items()}
        results: dict[str, list[tuple[float, float]]] = {}
        cache = work / "cache"
        for _ in range(args.repeat):
            shutil.rmtree(cache, ignore_errors=True)
            results.setdefault("check, cold cache (new process)", []).append(
                run_check(config, cache)
            )
            results.setdefault("check, warm cache (new process)", []).append(
                run_check(config, cache)
            )
            results.setdefault("check_beamtime(), warm cache", []).append(
                timed(lambda: check_beamtime(cfg, sheet, settings, cache_dir=cache))
            )
            results.setdefault("check_beamtime(), no cache", []).append(
                timed(lambda: check_beamtime(cfg, sheet, settings))
            )
            results.setdefault("reference: bare h5py/tifffile headers", []).append(
                timed(lambda: bare_headers(sheet))
            )
    ref = min(w for w, _ in results["reference: bare h5py/tifffile headers"])
    goals = {
        "check, cold cache (new process)": GOAL_COLD_S,
        "check_beamtime(), warm cache": GOAL_WARM_S,
    }
    print(
        f"{len(sheet)} scans, best of {args.repeat} (interleaved); load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'case':<40} {'wall s':>7} {'CPU s':>7} {'goal s':>7} {'wall/goal':>9} "
        f"{'wall/reference':>14}"
    )
    for case, runs in results.items():
        wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        goal = goals.get(case)
        g = f"{goal:>7.1f} {wall / goal:>9.2f}" if goal else f"{'':>7} {'':>9}"
        print(f"{case:<40} {wall:>7.2f} {cpu:>7.2f} {g} {wall / ref:>13.1f}x")


if __name__ == "__main__":
    main()
