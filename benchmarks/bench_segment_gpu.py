"""GPU benchmark of tomosnake.segment: training and inference on CUDA with mixed precision.

Prints "no GPU" and exits 0 where torch sees no CUDA device. Otherwise:
1. trains the U-Net on two SegmentPy acquisitions (../shared/data/segmentpy_nmc)
   on the GPU (float16 autocast) and on nothing else, reports time and held-out IoU
   (same protocol as bench_segment.py);
2. segments a synthetic (n, n, n) volume (default 512^3) with segment_volume on
   CUDA, without and with test-time augmentation, and the same volume's first
   16 slices on the CPU for the ratio; voxels/s and peak GPU memory.

    python benchmarks/bench_segment_gpu.py [--size 512] [--epochs N] [--holdout B]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--epochs", type=int, help="default: as 'tomosnake segment train'")
    p.add_argument("--holdout", default="B", choices=["A", "B", "C"])
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("no GPU")
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tifffile
    from bench_segment import ACQUISITIONS, DATA, PHASES, _link_training_folder
    from scipy import ndimage

    from tomosnake.io import write_volume
    from tomosnake.segment import iou_per_phase, segment_volume, train_model

    print(f"device: {torch.cuda.get_device_name(0)}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train = _link_training_folder(root, args.holdout)
        t0 = time.perf_counter()
        train_model([train], root / "m.pt", phases=PHASES, epochs=args.epochs, device="cuda")
        epochs = torch.load(root / "m.pt", weights_only=True)["training"]["epochs"]
        t_train = time.perf_counter() - t0
        grey = np.stack([tifffile.imread(DATA / f"{n}.tif") for n in ACQUISITIONS[args.holdout]])
        truth = np.stack(
            [tifffile.imread(DATA / f"{n}_label.tif") for n in ACQUISITIONS[args.holdout]]
        )
        tifffile.imwrite(root / "h.tif", grey, photometric="minisblack")
        segment_volume(root / "h.tif", root / "h_out.tif", "cnn", root / "m.pt", device="cuda")
        iou = iou_per_phase(tifffile.imread(root / "h_out.tif"), truth, PHASES)
        print(f"GPU training {epochs} epochs: {t_train:.1f} s; held-out {args.holdout} IoU "
              + " ".join(f"{k} {v:.3f}" for k, v in iou.items()))

        n = args.size
        rng = np.random.default_rng(0)
        field = ndimage.gaussian_filter(rng.standard_normal((n, n, n)).astype(np.float32), 4)
        vol = np.digitize(field, [0, 0.05]).astype(np.float32) + rng.normal(0, 0.3, field.shape)
        write_volume(root / "v.zarr", vol.astype(np.float32))
        write_volume(root / "v16.zarr", vol[:16].astype(np.float32))
        del field, vol
        rows = []
        for label, path, dev, tta, nvox in (
            ("cuda", "v.zarr", "cuda", False, n**3),
            ("cuda+tta", "v.zarr", "cuda", True, n**3),
            ("cpu", "v16.zarr", "cpu", False, 16 * n * n),
        ):
            torch.cuda.reset_peak_memory_stats()
            if dev == "cpu":
                torch.set_num_threads(2)
            t0 = time.perf_counter()
            segment_volume(root / path, root / f"o_{label}.zarr", "cnn", root / "m.pt",
                           chunk_z=32, tta=tta, device=dev)
            dt = time.perf_counter() - t0
            rows.append((label, nvox, dt, torch.cuda.max_memory_allocated() / 2**20))
        base = rows[-1][1] / rows[-1][2]
        print("\n| run | voxels | seconds | voxels/s | vs CPU (2 threads) | peak GPU MB |")
        print("|---|---|---|---|---|---|")
        for label, nvox, dt, mem in rows:
            print(f"| {label} | {nvox:.3g} | {dt:.1f} | {nvox / dt:.3g} | {nvox / dt / base:.1f} | "
                  f"{mem:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
