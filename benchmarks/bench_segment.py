"""Benchmark of tomosnake.segment: accuracy on real labelled slices and inference throughput.

1. Hold-out accuracy on SegmentPy's labelled NMC slices (../shared/data/segmentpy_nmc):
   train on two acquisitions, segment the third (whole unseen slices), per-phase
   IoU for the U-Net, the random forest (ilastik-style) and multi-Otsu (skimage).
2. Inference throughput (voxels/s) and peak memory (VmHWM of a fresh process)
   of segment_volume on a synthetic (n, n, n) float32 zarr volume, chunk by chunk.
3. Inside one acquisition (the issue-14 goal): train `tomosnake segment train`'s defaults on
   the 1st, 3rd and 5th labelled slice of A or B, segment the others; per-phase IoU, pixel
   accuracy, the same with a 1-pixel boundary tolerance, and the fit to the training slices
   themselves (--within).
4. With --label-study: how consistent the hand labels are, which bounds any score: each
   acquisition's labels against their own median filter, the share of non-NMC pixels
   labelled pore per grey level, a random forest trained on ONE slice and scored on each
   other slice, and how well grey value vs local contrast separates CBD from pore per slice.
5. With --active: labelling the slices segment_qc suggests vs evenly spaced slices, on
   volumes of the simulator's phantom (random forest; IoU against the truth).

    python benchmarks/bench_segment.py [--holdout A B C] [--epochs N] [--size 256 [--slices N]]
        [--width W --depth D] [--skip-accuracy] [--skip-throughput] [--within A B]
        [--label-study] [--active rf|cnn]

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

from tomosnake.segment import DEFAULTS, iou_per_phase, segment_volume, train_model

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


def tolerant_iou(pred: np.ndarray, truth: np.ndarray, phases: dict[str, int], tol: int = 1
                 ) -> dict[str, float]:
    """IoU per phase where a disagreement within ``tol`` pixels (in-plane) of a pixel of the
    other labelling's phase is forgiven: a diagnostic of boundary label noise."""
    from scipy import ndimage

    out = {}
    st = np.zeros((1, 3, 3), bool) if pred.ndim == 3 else np.ones((3, 3), bool)
    if pred.ndim == 3:
        st[0] = True
    for name, v in phases.items():
        p, t = pred == v, truth == v
        tt = ndimage.binary_dilation(t, st, iterations=tol)
        pp = ndimage.binary_dilation(p, st, iterations=tol)
        inter = np.count_nonzero(p & tt)
        union = inter + np.count_nonzero(p & ~tt) + np.count_nonzero(t & ~pp)
        out[name] = inter / union if union else float("nan")
    out["mean"] = float(np.nanmean([out[n] for n in phases]))
    return out


def within(acqs: list[str], root: Path, net: dict) -> list[dict]:
    """Train on the 1st, 3rd, 5th labelled slice of an acquisition; score the others."""
    rows = []
    for name in acqs:
        numbers = ACQUISITIONS[name]
        train = _link_folder(root / f"within_{name}", numbers[0::2])
        greys = {n: tifffile.imread(DATA / f"{n}.tif") for n in numbers}
        truth = {n: tifffile.imread(DATA / f"{n}_label.tif") for n in numbers}
        model = root / f"within_{name}.pt"
        t0, c0 = time.perf_counter(), time.process_time()
        load0 = os.getloadavg()[0]
        train_model([train], model, phases=PHASES, threads=2, **net)
        t_train, c_train = time.perf_counter() - t0, time.process_time() - c0
        row = {"test": f"within {name}", "method": "cnn", "train_s": t_train,
               "train_cpu_s": c_train, "load": (load0 + os.getloadavg()[0]) / 2}
        for part, idx in (("test", numbers[1::2]), ("train", numbers[0::2])):
            stack = root / f"within_{name}_{part}.tif"
            tifffile.imwrite(stack, np.stack([greys[n] for n in idx]), photometric="minisblack")
            out = root / f"within_{name}_{part}_labels.tif"
            segment_volume(stack, out, "cnn", model, phases=PHASES)
            pred = tifffile.imread(out).reshape(len(idx), *greys[idx[0]].shape)
            t = np.stack([truth[n] for n in idx])
            iou = iou_per_phase(pred, t, PHASES)
            key = "iou" if part == "test" else "train_iou"
            row[key] = iou
            row[f"{part}_accuracy"] = float(np.mean(pred == t))
            if part == "test":
                row["tol1"] = tolerant_iou(pred, t, PHASES)
        goal = (row["iou"]["mean"] >= 0.75 and row["iou"]["cbd"] >= 0.60
                and row["test_accuracy"] >= 0.90)
        row["goal_met"] = goal
        print(f"within {name}: test IoU nmc/cbd/pore/mean {_fmt(row['iou'])} accuracy "
              f"{row['test_accuracy']:.3f} | 1-px tolerant {_fmt(row['tol1'])} | training "
              f"slices {_fmt(row['train_iou'])} accuracy {row['train_accuracy']:.3f} | "
              f"train {t_train:.0f} s (cpu {c_train:.0f} s, load {row['load']:.1f})",
              flush=True)
        rows.append(row)
    return rows


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
            train_model([train], model, phases=PHASES, threads=2, **(net | {"method": method}))
        t_train, c_train = time.perf_counter() - t0, time.process_time() - c0
        out = root / f"{method}_{name}_labels.tif"
        t0 = time.perf_counter()
        segment_volume(stack, out, method=method,
                       model_path=model if method != "otsu" else None,
                       phases=DARK_TO_BRIGHT if method == "otsu" else PHASES)
        t_pred = time.perf_counter() - t0
        pred = tifffile.imread(out).reshape(truth.shape)
        iou = iou_per_phase(pred, truth, PHASES)
        rows.append({"test": name, "method": method, "iou": iou,
                     "accuracy": float(np.mean(pred == truth)),
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
        # the same share slice by slice: one annotator's rule would give one curve
        for n, g, lab in zip(numbers, greys, labels, strict=True):
            g = apply(g, lo, hi)
            other = lab != PHASES["nmc"]
            per = []
            for e in edges:
                pick = other & (g >= e) & (g < e + 0.1)
                per.append(float(np.mean(lab[pick] == PHASES["pore"])) if pick.sum() > 300
                           else float("nan"))
            rows.append({"acquisition": name, "slice": n, "pore_share_by_grey": per})
            print(f"   slice {n:5d}: pore share " + " ".join(f"{v:.2f}" for v in per))
    rows += consistency()
    return rows


def consistency() -> list[dict]:
    """A random forest trained on ONE labelled slice, scored on every other slice of its
    acquisition (mean IoU), and the ROC AUC with which the grey value, or its local contrast
    (grey minus its 10-pixel Gaussian mean), separates CBD from pore pixels in each slice."""
    from scipy import ndimage
    from sklearn.metrics import roc_auc_score

    from tomosnake.segment import Normalisation
    from tomosnake.segment.classical import pixel_features, train_forest
    from tomosnake.segment.data import to_targets
    from tomosnake.segment.normalise import apply

    rows = []
    values = list(PHASES.values())
    for name in ("A", "B"):
        numbers = ACQUISITIONS[name]
        greys = [tifffile.imread(DATA / f"{n}.tif") for n in numbers]
        labels = [tifffile.imread(DATA / f"{n}_label.tif") for n in numbers]
        lo, hi = Normalisation().measure(greys)
        greys = [apply(g, lo, hi) for g in greys]
        feats = [pixel_features(g) for g in greys]
        print(f"\n{name}: forest trained on one slice (row) scored on each slice (mean IoU); "
              "CBD-vs-pore AUC of grey | of local contrast")
        for i, n in enumerate(numbers):
            forest = train_forest([(greys[i], to_targets(labels[i], values, None))], 3,
                                  threads=2)
            scores = []
            for f, lab in zip(feats, labels, strict=True):
                cls = forest.predict(f.reshape(-1, f.shape[-1])).reshape(lab.shape)
                scores.append(iou_per_phase(np.asarray(values)[cls], lab, PHASES)["mean"])
            other = labels[i] != PHASES["nmc"]
            is_cbd = labels[i][other] == PHASES["cbd"]
            local = greys[i] - ndimage.gaussian_filter(greys[i], 10)
            auc = (roc_auc_score(is_cbd, greys[i][other]), roc_auc_score(is_cbd, local[other]))
            rows.append({"acquisition": name, "train_slice": n, "mean_iou": scores,
                         "auc_grey": auc[0], "auc_local": auc[1]})
            print(f"  {n:5d}: " + " ".join(f"{v:.2f}" for v in scores)
                  + f" | {auc[0]:.2f} | {auc[1]:.2f}", flush=True)
    return rows


def active_volume(seed: int, shape=(96, 80, 80), heterogeneous: bool = True,
                  drift: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Grey volume and truth of the simulator's phantom (pore 0.1, CBD 0.45, NMC 0.9, blur
    0.7 px, noise 0.06). ``heterogeneous``: one band of 12 slices holds finer particles with
    more binder, another band of 12 slices has grey values offset by ``drift`` and noise
    0.09 (intensity drift along the sample); band positions are random (seeded)."""
    from scipy import ndimage

    from tomosnake.synth import PhantomSpec, nmc_phantom

    rng = np.random.default_rng(seed)
    nz = shape[0]
    truth = nmc_phantom(PhantomSpec(shape=shape, radius_mean=8.0, seed=seed))
    offset = np.zeros(nz, np.float32)
    noise = np.full(nz, 0.06, np.float32)
    if heterogeneous:
        fine = nmc_phantom(PhantomSpec(shape=shape, radius_mean=4.0, shell_thickness=3.0,
                                       shell_coverage=0.8, seed=seed + 100))
        a, b = rng.choice(nz - 12, 2, replace=False)
        while abs(int(a) - int(b)) < 14:
            a, b = rng.choice(nz - 12, 2, replace=False)
        truth[a : a + 12] = fine[a : a + 12]
        offset[b : b + 12] = drift
        noise[b : b + 12] = 0.09
    grey = ndimage.gaussian_filter(np.array([0.1, 0.45, 0.9], np.float32)[truth], 0.7)
    grey += offset[:, None, None] + rng.standard_normal(shape).astype(np.float32) * noise[
        :, None, None]
    return grey.astype(np.float32), truth


def _even(nz: int, n: int) -> list[int]:
    return sorted({int((i + 0.5) * nz / n) for i in range(n)})


def _label_train_score(recon: Path, truth: np.ndarray, zs: list[int], tag: str, method: str,
                       settings: dict) -> tuple[float, dict]:
    """Label slices ``zs`` with the truth, train, segment: (mean IoU, per-slice summary)."""
    from tomosnake.io import open_volume, write_volume
    from tomosnake.segment import CANONICAL_PHASES, train_from_labels

    lab = np.full(truth.shape, 255, np.uint8)
    lab[zs] = truth[zs]
    src = recon.with_name(f"{recon.stem}_{tag}{len(zs)}_labels.zarr")
    write_volume(src, lab, {"phases": CANONICAL_PHASES, "unlabelled": 255})
    model = src.with_suffix(".pt")
    train_from_labels(model, [(recon, src)], method=method, threads=2, **settings)
    out = src.with_name(src.stem + "_seg.zarr")
    segment_volume(recon, out, method, model)
    pred = open_volume(out)
    return (iou_per_phase(pred[...], truth, CANONICAL_PHASES)["mean"],
            pred.attrs["slice_confidence"])


def active_learning(root: Path, seeds=(0, 1, 2), rounds=(2, 4, 6), method: str = "rf",
                    **settings) -> list[dict]:
    """Mean IoU (whole volume vs truth) after labelling n slices: evenly spaced, or the
    first two evenly spaced and then, each round, the slices segment_qc suggests."""
    from tomosnake.io import write_volume
    from tomosnake.segment import suggest_slices

    rows = []
    for heterogeneous in (True, False):
        for seed in seeds:
            grey, truth = active_volume(seed, heterogeneous=heterogeneous)
            recon = root / f"active_{seed}_{heterogeneous}.zarr"
            write_volume(recon, grey)

            def score(zs: list[int], tag: str, recon=recon, truth=truth):
                return _label_train_score(recon, truth, zs, tag, method, settings)

            labelled = _even(grey.shape[0], rounds[0])
            first, summary = score(labelled, "start")
            row = {"heterogeneous": heterogeneous, "seed": seed, "n": list(rounds),
                   "even": [first], "suggested": [first], "suggested_slices": []}
            for n in rounds[1:]:
                row["even"].append(score(_even(grey.shape[0], n), "even")[0])
                labelled = sorted(labelled + suggest_slices(summary, n - len(labelled),
                                                            exclude=labelled))
                iou, summary = score(labelled, "suggested")
                row["suggested"].append(iou)
                row["suggested_slices"].append(labelled)
            print(f"{'heterogeneous' if heterogeneous else 'homogeneous'} seed {seed}: even "
                  + " ".join(f"{v:.3f}" for v in row["even"]) + " | suggested "
                  + " ".join(f"{v:.3f}" for v in row["suggested"]), flush=True)
            rows.append(row)
    print("\n| volume | labelled slices | mean IoU, evenly spaced | mean IoU, suggested | "
          "IoU gained per added slice: even / suggested |")
    print("|---|---|---|---|---|")
    for het in (True, False):
        sel = [r for r in rows if r["heterogeneous"] == het]
        for k, n in enumerate(rounds):
            e = np.mean([r["even"][k] for r in sel])
            g = np.mean([r["suggested"][k] for r in sel])
            gain = "" if k == 0 else (
                f"{(e - np.mean([r['even'][0] for r in sel])) / (n - rounds[0]):+.4f} / "
                f"{(g - np.mean([r['suggested'][0] for r in sel])) / (n - rounds[0]):+.4f}")
            print(f"| {'heterogeneous' if het else 'homogeneous'} | {n} | {e:.3f} | {g:.3f} | "
                  f"{gain} |")
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
    p.add_argument("--within", nargs="*", default=[], choices=["A", "B"],
                   help="train on slices 1, 3, 5 of these acquisitions, test on the others")
    for key in ("epochs", "width", "depth", "patch", "batch_size", "class_weight_power"):
        kind = float if key == "class_weight_power" else int
        p.add_argument(f"--{key.replace('_', '-')}", type=kind,
                       help=f"U-Net setting (default {DEFAULTS[key]}, as 'segment train')")
    p.add_argument("--loss", choices=("ce", "dice_ce", "focal"))
    p.add_argument("--size", type=int, default=256, help="throughput volume edge (voxels)")
    p.add_argument("--slices", type=int, help="throughput volume depth (default: --size)")
    p.add_argument("--skip-accuracy", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--label-study", action="store_true",
                   help="also measure how consistent the real labels are")
    p.add_argument("--active", choices=("rf", "cnn"),
                   help="suggested vs evenly spaced slices on simulated volumes, with this "
                   "model (cnn: 15 epochs of 64-pixel patches)")
    p.add_argument("--json", help="write all rows to this JSON file")
    args = p.parse_args()
    torch.set_num_threads(2)
    rows: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        net = {k: getattr(args, k) for k in ("epochs", "width", "depth", "patch", "batch_size",
                                             "class_weight_power", "loss")
               if getattr(args, k) is not None}
        if args.within:
            rows["within"] = within(args.within, root, net)
            print("\n| trained on | tested on | NMC | CBD | pore | mean IoU | pixel accuracy | "
                  "goal met | 1-px tolerant mean (CBD) | training slices mean (accuracy) | "
                  "train s (cpu s, load) |")
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            for r in rows["within"]:
                n = ACQUISITIONS[r["test"][-1]]
                i, t, f = r["iou"], r["tol1"], r["train_iou"]
                print(f"| {', '.join(map(str, n[0::2]))} | {', '.join(map(str, n[1::2]))} | "
                      f"{i['nmc']:.3f} | {i['cbd']:.3f} | {i['pore']:.3f} | {i['mean']:.3f} | "
                      f"{r['test_accuracy']:.3f} | {'yes' if r['goal_met'] else 'no'} | "
                      f"{t['mean']:.3f} ({t['cbd']:.3f}) | {f['mean']:.3f} "
                      f"({r['train_accuracy']:.3f}) | {r['train_s']:.0f} ({r['train_cpu_s']:.0f},"
                      f" {r['load']:.1f}) |")
        if not args.skip_accuracy:
            rows["accuracy"] = accuracy(args.holdout, root, net)
        if args.label_study:
            rows["label_study"] = label_study(root, net)
        if args.active:
            light = {"epochs": 15, "patch": 64} if args.active == "cnn" else {}
            rows["active"] = active_learning(root, method=args.active, **light)
        scored = [r for r in rows.get("accuracy", []) + rows.get("label_study", [])
                  if "iou" in r]
        if scored:
            print("\n| test slices | method | NMC | CBD | pore | mean IoU | pixel accuracy | "
                  "train s (cpu s) |")
            print("|---|---|---|---|---|---|---|---|")
            for r in scored:
                i = r["iou"]
                print(f"| {r['test']} | {r['method']} | {i['nmc']:.3f} | {i['cbd']:.3f} | "
                      f"{i['pore']:.3f} | {i['mean']:.3f} | {r['accuracy']:.3f} | "
                      f"{r['train_s']:.0f} ({r['train_cpu_s']:.0f}) |")
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
