"""Real-size scans through the whole workflow: memory per job, bytes read, disk kept, time.

Two scans of the same width and angles (default 2048 columns x 1500 projections) but 64 and
512 detector rows are written from exact line integrals (an NMC pillar in air,
``tomosnake.synth.presets.nmc_pillar``) and run through the workflow on this machine with
``snakemake --cores 2`` (multi-Otsu segmentation, default morphology), once, while nothing
else runs. Printed per rule (from Snakemake's benchmark files and the ``io:`` line every job
logs):

- peak RSS of its largest job at 64 and 512 rows, and the ratio (goal <= 1.3);
- bytes read by all its jobs (zarr chunks and raw frames, counted by tomosnake.io.iocount) /
  bytes of its input (goal <= 1.2), and bytes written;
- wall time at both heights and the ratio (goal <= 1.2 x 8);

then the disk kept per scan against its float32 reconstruction (goal <= 1.5), and the
extrapolation to a 50-scan beamtime of 2048-row scans on a SLURM cluster.

    .venv/bin/python benchmarks/bench_scale.py                 # 2048 x 1500, rows 64 and 512
    .venv/bin/python benchmarks/bench_scale.py --cols 512 --proj 360 --rows 16 64   # quick look
    .venv/bin/python benchmarks/bench_scale.py --metrics fractions connectivity     # 2 cores
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TEMP_STORES = ("prep.zarr", "prep.parts", "recon.parts", "labels.parts", "flats.zarr")
#: the input each stage reads, relative to results/{scan} (None: the raw file)
STAGE_INPUT = {
    "flats": None, "ingest": None, "center": "prep.zarr/proj", "recon_slab": "prep.zarr/proj",
    "segment_slab": "scan.ome.zarr/0", "morphology": "scan.ome.zarr/labels/phases/0",
    "image_level": "scan.ome.zarr/0",
}


def disk_bytes(path: Path, skip: tuple[str, ...] = ()) -> int:
    """Bytes allocated under ``path`` (hard links counted once), skipping names in ``skip``."""
    seen, total = set(), 0
    for p in path.rglob("*"):
        if any(part in skip for part in p.relative_to(path).parts):
            continue
        st = p.lstat()
        if p.is_file() and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def write_scans(raw: Path, rows: list[int], cols: int, proj: int) -> dict[str, Path]:
    from tomosnake.synth.largescan import write_analytic_scan
    from tomosnake.synth.presets import nmc_pillar

    scans = {}
    for n in rows:
        path = raw / f"pillar_{n}.h5"
        if not path.exists():
            t = time.time()
            write_analytic_scan(path, nmc_pillar(n, cols, seed=1), proj, n, cols,
                                pixel_size_um=0.05, photons=20000.0, seed=n)
            print(f"wrote {path} ({path.stat().st_size / 2**30:.2f} GiB) in "
                  f"{time.time() - t:.0f} s", flush=True)
        scans[f"rows{n}"] = path.resolve()
    return scans


def run_workflow(work: Path, scans: dict[str, Path], slab_rows: int,
                 metrics: list[str] | None = None) -> float:
    (work / "config").mkdir(parents=True, exist_ok=True)
    cfg = {"scans": "config/scans.tsv", "layout": {"slab_rows": slab_rows},
           "segment": {"method": "otsu"}}
    if metrics:
        cfg["morph"] = {"metrics": metrics}
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    sheet = "scan_id\tpath\n" + "".join(f"{s}\t{p}\n" for s, p in scans.items())
    (work / "config" / "scans.tsv").write_text(sheet)
    t = time.time()
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"),
                    "--cores", "2", "--notemp", "--rerun-incomplete", "--keep-going"],
                   cwd=work, check=True)
    return time.time() - t


def job_records(work: Path) -> dict[tuple[str, str], dict[str, float]]:
    """Per (rule, scan): largest job RSS (MB), summed seconds, bytes read and written."""
    rec: dict[tuple[str, str], dict[str, float]] = defaultdict(
        lambda: {"rss": 0.0, "s": 0.0, "read": 0.0, "written": 0.0, "jobs": 0})
    for tsv in (work / "results" / "benchmarks").glob("*/*.tsv"):
        rule, scan = tsv.parent.name, tsv.stem.split(".")[0]
        row = list(csv.DictReader(tsv.open(), delimiter="\t"))[-1]
        r = rec[rule, scan]
        r["rss"] = max(r["rss"], float(row["max_rss"]))
        r["s"] += float(row["s"])
        r["jobs"] += 1
    for log in (work / "logs").rglob("*.log"):
        text = log.read_text()
        rule = re.search(r"rule (\w+), wildcards \{(.*?)\}", text)
        io = re.search(r"io: read (\d+) bytes .*?, wrote (-?\d+) bytes", text)
        scan = re.search(r"'scan': '([^']+)'", text)
        if rule and io and scan:
            r = rec[rule.group(1), scan.group(1)]
            r["read"] += float(io.group(1))
            r["written"] += float(io.group(2))
    return rec


def input_bytes(work: Path, scans: dict[str, Path], rule: str, scan: str) -> float | None:
    if rule not in STAGE_INPUT:
        return None
    rel = STAGE_INPUT[rule]
    if rel is None:
        return float(scans[scan].stat().st_size)
    path = work / "results" / scan / rel
    return float(disk_bytes(path)) if path.exists() else None


def extrapolate(rec, scans_rows: dict[str, int], cols: int, proj: int, slab_rows: int,
                n_scans: int = 50, rows: int = 2048) -> list[str]:
    """Jobs, core-hours, peak memory and bytes written for ``n_scans`` scans of ``rows`` rows,
    from the largest measured scan (per-job numbers are per block/slab, so they scale with the
    job count)."""
    from tomosnake.layout import plan

    big = max(scans_rows, key=scans_rows.get)
    measured = plan(proj, scans_rows[big], cols, slab_rows)
    target = plan(proj, rows, cols, slab_rows)
    scale = {"ingest": len(target.blocks) / len(measured.blocks),
             "recon_slab": len(target.slabs) / len(measured.slabs),
             "segment_slab": len(target.slabs) / len(measured.slabs)}
    lines = ["| rule | jobs | core-hours | peak RSS per job (GB) | written (TB) |",
             "|---|---|---|---|---|"]
    total_ch = total_tb = 0.0
    for (rule, scan), r in sorted(rec.items()):
        if scan != big:
            continue
        f = scale.get(rule, rows / scans_rows[big])
        jobs = round(r["jobs"] * (f if rule in scale else 1)) * n_scans
        ch = r["s"] * 2 * f * n_scans / 3600
        tb = r["written"] * f * n_scans / 1e12
        total_ch += ch
        total_tb += tb
        lines.append(f"| {rule} | {jobs} | {ch:.1f} | {r['rss'] / 1024:.2f} | {tb:.3f} |")
    lines.append(f"| **all** | | **{total_ch:.0f}** | | **{total_tb:.2f}** |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cols", type=int, default=2048)
    ap.add_argument("--proj", type=int, default=1500)
    ap.add_argument("--rows", type=int, nargs=2, default=[64, 512])
    ap.add_argument("--slab-rows", type=int, default=64)
    ap.add_argument("--work", type=Path, default=REPO / ".tmp" / "bench_scale")
    ap.add_argument("--metrics", nargs="+", help="morph.metrics (default: the config default, "
                    "all; on 2 cores, surface and sizes of a 512 x 2048^2 scan take hours: "
                    "benchmarks/bench_morph.py --scale measures their memory on its own)")
    args = ap.parse_args()
    work = args.work
    scans = write_scans(work / "raw", args.rows, args.cols, args.proj)
    wall = run_workflow(work, scans, args.slab_rows, args.metrics)
    rec = job_records(work)
    small, big = (f"rows{n}" for n in args.rows)
    factor = args.rows[1] / args.rows[0]
    print(f"\nbench_scale: {args.cols} columns x {args.proj} projections, rows {args.rows}, "
          f"{args.slab_rows} rows per job; workflow wall {wall:.0f} s\n")
    print("| rule | jobs (small/large) | peak RSS MB small | large | ratio | read / input "
          "(large) | written GB (large) | wall s small | large | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for rule in sorted({r for r, _ in rec}):
        a, b = rec.get((rule, small)), rec.get((rule, big))
        if not a or not b or not a["jobs"]:
            continue
        inp = input_bytes(work, scans, rule, big)
        amp = f"{b['read'] / inp:.2f}" if inp else "-"
        print(f"| {rule} | {a['jobs']}/{b['jobs']} | {a['rss']:.0f} | {b['rss']:.0f} | "
              f"{b['rss'] / a['rss']:.2f} | {amp} | {b['written'] / 1e9:.2f} | {a['s']:.0f} | "
              f"{b['s']:.0f} | {b['s'] / max(a['s'], 1e-9):.1f} (goal <= {1.2 * factor:.1f}) |")
    print("\n| scan | disk kept (GB) | float32 reconstruction (GB) | ratio |")
    print("|---|---|---|---|")
    for scan in (small, big):
        kept = disk_bytes(work / "results" / scan, TEMP_STORES)
        import zarr

        level0 = zarr.open_array(str(work / "results" / scan / "scan.ome.zarr" / "0"), mode="r")
        f32 = level0.size * 4
        print(f"| {scan} | {kept / 1e9:.2f} | {f32 / 1e9:.2f} | {kept / f32:.2f} |")
    print("\nExtrapolated to 50 scans of 2048 rows (same width and angles), 2 threads per job:\n")
    print("\n".join(extrapolate(rec, dict(zip((small, big), args.rows, strict=True)), args.cols,
                                args.proj, args.slab_rows)))


if __name__ == "__main__":
    main()
