"""Benchmark of tomosnake.segment: accuracy on real labelled slices and inference throughput.

1. Hold-out accuracy on SegmentPy's labelled NMC slices (../shared/data/segmentpy_nmc):
   train on two acquisitions, segment the third (whole unseen slices), per-phase
   IoU for the U-Net, the random forest (ilastik-style) and multi-Otsu (skimage).
2. Inference throughput (voxels/s) and peak memory (VmHWM of a fresh process)
   of segment_volume on a synthetic (n, n, n) float32 zarr volume, chunk by chunk.
3. With --label-study: how consistent the hand labels are, which bounds any hold-out
   score: each acquisition's labels against their own median filter, the share of
   non-NMC pixels labelled pore per grey level, and train/test splits inside one
   acquisition (same annotator, same contrast).

    python benchmarks/bench_segment.py [--holdout A B C] [--epochs 40] [--size 256 [--slices N]]
        [--width 16 --depth 3] [--skip-accuracy] [--skip-throughput] [--label-study]

Timings on a 2-core CPU use torch.set_num_threads(2).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
import torch

from tomosnake.segment import iou_per_phase, segment_volume, train_model

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "segmentpy_nmc"
ACQUISITIONS = {
    "A": [1, 100, 200, 300, 400],  # 499 x 601, float
    "B": [103, 360, 510, 738, 929, 1098],  # 500 x 572, float
    "C": [1501, 1502, 1503, 1504],  # 400 x 400, 16-bit counts
}
#: SegmentPy's label values; multi-Otsu classes dark -> bright map to pore, cbd, nmc
PHASES = {"nmc": 0, "cbd": 1, "pore": 2}
DARK_TO_BRIGHT = {"pore": 2, "cbd": 1, "nmc": 0}


def _link_folder(folder: Path, numbers: list[int]) -> Path:
    folder.mkdir()
    for n in numbers:
        for suffix in ("", "_label"):
            os.symlink(DATA / f"{n}{suffix}.tif", folder / f"{n}{suffix}.tif")
    return folder


def _link_training_folder(root: Path, holdout: str) -> Path:
    numbers = [n for name, ns in ACQUISITIONS.items() if name != holdout for n in ns]
    return _link_folder(root / f"train_without_{holdout}", numbers)


def _fmt(iou: dict[str, float]) -> str:
    return " ".join(f"{iou[k]:.3f}" for k in ("nmc", "cbd", "pore", "mean"))


def _train_and_score(
    name: str, train: Path, test: list[int], root: Path, methods: tuple[str, ...], net: dict
) -> list[dict]:
    """Train each method on the folder ``train``, segment the whole slices ``test``, score."""
    grey = np.stack([tifffile.imread(DATA / f"{n}.tif") for n in test])
    truth = np.stack([tifffile.imread(DATA / f"{n}_label.tif") for n in test])
    stack = root / f"{name}.tif"
    tifffile.imwrite(stack, grey, photometric="minisblack")
    rows = []
    for method in methods:
        model = root / f"{method}_{name}.pt"
        t0, c0 = time.perf_counter(), time.process_time()
        if method != "otsu":
            train_model([train], model, phases=PHASES, method=method, threads=2, seed=0, **net)
        t_train, c_train = time.perf_counter() - t0, time.process_time() - c0
        out = root / f"{method}_{name}_labels.tif"
        t0 = time.perf_counter()
        segment_volume(stack, out, method=method,
                       model_path=model if method != "otsu" else None,
                       phases=DARK_TO_BRIGHT if method == "otsu" else PHASES)
        t_pred = time.perf_counter() - t0
        iou = iou_per_phase(tifffile.imread(out).reshape(truth.shape), truth, PHASES)
        rows.append({"test": name, "method": method, "iou": iou,
                     "train_s": t_train, "train_cpu_s": c_train, "predict_s": t_pred})
        print(f"{name} {method:5s} IoU nmc/cbd/pore/mean {_fmt(iou)} "
              f"train {t_train:6.1f} s (cpu {c_train:6.1f} s) predict {t_pred:5.1f} s",
              flush=True)
    return rows


def accuracy(holdouts: list[str], root: Path, net: dict) -> list[dict]:
    rows = []
    for holdout in holdouts:
        train = _link_training_folder(root, holdout)
        rows += _train_and_score(f"held-out {holdout}", train, ACQUISITIONS[holdout], root,
                                 ("cnn", "rf", "otsu"), net)
    return rows


def label_study(root: Path, net: dict) -> list[dict]:
    """Bounds set by the labels themselves (no model can score above what they agree on)."""
    from scipy import ndimage

    from tomosnake.segment import Normalisation
    from tomosnake.segment.normalise import apply

    rows = []
    edges = np.arange(0.0, 0.61, 0.1)
    print("\nlabels vs their own median filter (IoU nmc/cbd/pore/mean); "
          "share of non-NMC pixels labelled pore per normalised grey bin "
          + " ".join(f"[{e:.1f},{e + 0.1:.1f})" for e in edges))
    for name, numbers in ACQUISITIONS.items():
        greys = [tifffile.imread(DATA / f"{n}.tif") for n in numbers]
        labels = [tifffile.imread(DATA / f"{n}_label.tif") for n in numbers]
        lo, hi = Normalisation().measure(greys)
        truth = np.concatenate([lab.ravel() for lab in labels])
        row = {"acquisition": name}
        for size in (3, 5):
            smooth = np.concatenate([ndimage.median_filter(lab, size).ravel() for lab in labels])
            row[f"median{size}"] = iou_per_phase(smooth, truth, PHASES)
        grey = np.concatenate([apply(g, lo, hi).ravel() for g in greys])
        other = truth != PHASES["nmc"]
        share = []
        for e in edges:
            pick = other & (grey >= e) & (grey < e + 0.1)
            share.append(float(np.mean(truth[pick] == PHASES["pore"])) if pick.sum() > 500
                          else float("nan"))
        row["pore_share_by_grey"] = share
        rows.append(row)
        print(f"{name}: median 3x3 {_fmt(row['median3'])} | 5x5 {_fmt(row['median5'])} | "
              "pore share " + " ".join(f"{v:.2f}" for v in share), flush=True)
    print("\ninside one acquisition: train on the even-numbered slices, test on the others")
    for name in ("A", "B"):
        numbers = ACQUISITIONS[name]
        train = _link_folder(root / f"within_{name}", numbers[0::2])
        for r in _train_and_score(f"within {name}", train, numbers[1::2], root, ("cnn", "rf"),
                                  net):
            rows.append(r)
    return rows


_CHILD = """
import json, resource, sys, time, torch
torch.set_num_threads(2)
from tomosnake.segment import segment_volume
method, vol, model, out = sys.argv[1:5]
t0 = time.perf_counter()
segment_volume(vol, out, method=method, model_path=model if model != "-" else None, chunk_z=16)
dt = time.perf_counter() - t0
# VmHWM starts afresh at exec (ru_maxrss would include the parent's peak)
hwm = next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM"))
print(json.dumps({"seconds": dt, "max_rss_mb": int(hwm.split()[1]) / 1024}))
"""


def throughput(size: int, nz: int, root: Path) -> list[dict]:
    """Speed does not depend on the weights: an untrained U-Net (default size) and a forest
    fitted on one slice of the synthetic (nz, size, size) volume are timed."""
    from scipy import ndimage

    from tomosnake.io import write_volume
    from tomosnake.segment import Normalisation, SegmentModel
    from tomosnake.segment.classical import train_forest
    from tomosnake.segment.normalise import apply
    from tomosnake.segment.unet import UNet

    rng = np.random.default_rng(0)
    field = ndimage.gaussian_filter(rng.standard_normal((nz, size, size)).astype(np.float32), 4)
    labels = np.digitize(field, [0, 0.05])
    grey = labels.astype(np.float32) + rng.normal(0, 0.3, field.shape).astype(np.float32)
    vol = root / f"vol{nz}x{size}.zarr"
    write_volume(vol, grey, {"voxel_size_um": 0.05})
    phases = {"pore": 0, "cbd": 1, "nmc": 2}
    model, forest = root / "cnn_tp.pt", root / "rf_tp.pt"
    torch.manual_seed(0)
    SegmentModel("unet", phases, Normalisation(), arch={"width": 16, "depth": 3},
                 network=UNet(1, 3).eval()).save(model)
    lo, hi = Normalisation().measure(grey)
    SegmentModel("rf", phases, Normalisation(),
                 forest=train_forest([(apply(grey[0], lo, hi), labels[0])], 3)).save(forest)
    del field, grey, labels
    rows = []
    for method, mpath in (("otsu", "-"), ("cnn", str(model)), ("rf", str(forest))):
        res = subprocess.run(
            [sys.executable, "-c", _CHILD, method, str(vol), mpath, str(root / f"{method}.zarr")],
            capture_output=True, text=True, check=True,
        )
        r = json.loads(res.stdout.strip().splitlines()[-1])
        shape = f"{nz}x{size}x{size}"
        r.update(method=method, shape=shape, voxels_per_s=nz * size**2 / r["seconds"])
        rows.append(r)
        print(f"{method:5s} {shape}: {r['seconds']:7.1f} s  {r['voxels_per_s']:10.3g} voxels/s  "
              f"peak RSS {r['max_rss_mb']:6.0f} MB", flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--holdout", nargs="+", default=["A", "B", "C"], choices=list(ACQUISITIONS))
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--width", type=int, default=16, help="U-Net channels at full resolution")
    p.add_argument("--depth", type=int, default=3, help="U-Net poolings")
    p.add_argument("--size", type=int, default=256, help="throughput volume edge (voxels)")
    p.add_argument("--slices", type=int, help="throughput volume depth (default: --size)")
    p.add_argument("--skip-accuracy", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--label-study", action="store_true",
                   help="also measure how consistent the real labels are")
    p.add_argument("--json", help="write all rows to this JSON file")
    args = p.parse_args()
    torch.set_num_threads(2)
    rows: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        net = {"epochs": args.epochs, "width": args.width, "depth": args.depth}
        if not args.skip_accuracy:
            rows["accuracy"] = accuracy(args.holdout, root, net)
        if args.label_study:
            rows["label_study"] = label_study(root, net)
        scored = [r for r in rows.get("accuracy", []) + rows.get("label_study", [])
                  if "iou" in r]
        if scored:
            print("\n| test slices | method | NMC | CBD | pore | mean IoU | train s (cpu s) |")
            print("|---|---|---|---|---|---|---|")
            for r in scored:
                i = r["iou"]
                print(f"| {r['test']} | {r['method']} | {i['nmc']:.3f} | {i['cbd']:.3f} | "
                      f"{i['pore']:.3f} | {i['mean']:.3f} | {r['train_s']:.0f} "
                      f"({r['train_cpu_s']:.0f}) |")
        if not args.skip_throughput:
            rows["throughput"] = throughput(args.size, args.slices or args.size, root)
            print("\n| method | volume | seconds | voxels/s | vs otsu | peak RSS MB |")
            print("|---|---|---|---|---|---|")
            base = rows["throughput"][0]["voxels_per_s"]
            for r in rows["throughput"]:
                print(f"| {r['method']} | {r['shape']} | {r['seconds']:.1f} | "
                      f"{r['voxels_per_s']:.3g} | {r['voxels_per_s'] / base:.3g} | "
                      f"{r['max_rss_mb']:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\n(peak RSS of this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
