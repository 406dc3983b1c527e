"""Training a segmentation model from a handful of labelled slices.

Labels may be dense (SegmentPy slices) or sparse (scribbles in a zarr volume,
``ignore_value`` where unlabelled). The U-Net is trained on random patches
centred on labelled pixels (half of them drawn class-balanced), with flips,
90-degree rotations, zoom, intensity and noise augmentation, and a
class-weighted cross-entropy (weights 1/sqrt(class frequency)) so that the thin
carbon-binder phase is not drowned by the bulk phases. Everything random is
seeded; the model file records classes, normalisation and settings.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tomosnake.errors import ConfigError, InputError
from tomosnake.io import open_volume
from tomosnake.progress import track
from tomosnake.segment.data import (
    CANONICAL_PHASES,
    IGNORE_INDEX,
    check_label_order,
    check_label_values,
    labelled_planes,
    load_segmentpy,
    open_pair,
    to_targets,
)
from tomosnake.segment.infer import default_device
from tomosnake.segment.modelfile import SegmentModel
from tomosnake.segment.normalise import Normalisation
from tomosnake.segment.unet import UNet

log = logging.getLogger(__name__)


def _resolve_phases(
    raw: list[tuple[np.ndarray, np.ndarray, str]],
    phases: dict[str, int] | None,
    ignore_value: int | None,
) -> dict[str, int]:
    values = None if phases is None else list(phases.values())
    found: set[int] = set()
    for _, labels, src in raw:
        found |= check_label_values(labels, src, values, ignore_value)
    if phases is None:
        phases = {f"class_{v}": v for v in sorted(found)}
    if len(phases) < 2:
        raise InputError(f"training labels hold fewer than two classes: {phases}")
    missing = [name for name, v in phases.items() if v not in found]
    if missing:
        raise InputError(f"training labels hold no voxel of phase(s) {missing}")
    for name, v in phases.items():
        if not 0 <= v <= 255 or v == ignore_value:
            raise ConfigError(
                f"phase {name}: label value {v} must be in 0..255 and not the ignore value"
            )
    return dict(phases)


#: augmentation: relative intensity scale, offset and noise (normalised units), zoom range
AUGMENT = {"scale": 0.1, "offset": 0.05, "noise": 0.03, "zoom": (0.8, 1.25)}


def _augment(
    images: torch.Tensor, targets: torch.Tensor, rng: np.random.Generator, aug: dict
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flips/rotations, intensity scale+offset, Gaussian noise (per sample)."""
    out_i, out_t = [], []
    for img, tgt in zip(images, targets, strict=True):
        k = int(rng.integers(4))
        img, tgt = torch.rot90(img, k, (-2, -1)), torch.rot90(tgt, k, (-2, -1))
        if rng.random() < 0.5:
            img, tgt = img.flip(-1), tgt.flip(-1)
        img = img * float(np.exp(rng.uniform(-aug["scale"], aug["scale"])))
        img = img + float(rng.uniform(-aug["offset"], aug["offset"]))
        img = img + float(rng.uniform(0, aug["noise"])) * torch.randn(img.shape)
        out_i.append(img)
        out_t.append(tgt)
    return torch.stack(out_i), torch.stack(out_t)


class _PatchSampler:
    """Random patches centred on labelled pixels (half of them drawn class-balanced)."""

    def __init__(self, items: list[tuple[np.ndarray, np.ndarray]], patch: int, n_classes: int):
        self.half = patch  # room for a zoom of up to 2x around the centre
        self.patch = patch
        self.images, self.targets = [], []
        self.where: list[list[np.ndarray]] = []
        self.any: list[np.ndarray] = []
        h = self.half
        for img, tgt in items:
            self.images.append(np.pad(img, ((0, 0), (h, h), (h, h)), mode="reflect"))
            self.targets.append(np.pad(tgt, h, constant_values=IGNORE_INDEX))
            flat = tgt.ravel()
            self.where.append([np.flatnonzero(flat == k) for k in range(n_classes)])
            self.any.append(np.flatnonzero(flat >= 0))
        counts = np.array([len(a) for a in self.any], float)
        self.slice_p = counts / counts.sum()
        self.class_slice_p = []
        for k in range(n_classes):
            ck = np.array([len(w[k]) for w in self.where], float)
            self.class_slice_p.append(ck / ck.sum())
        self.n_classes = n_classes

    def draw(self, rng: np.random.Generator, zoom: float) -> tuple[np.ndarray, np.ndarray]:
        if rng.random() < 0.5:
            k = int(rng.integers(self.n_classes))
            s = int(rng.choice(len(self.images), p=self.class_slice_p[k]))
            pool = self.where[s][k]
        else:
            s = int(rng.choice(len(self.images), p=self.slice_p))
            pool = self.any[s]
        nx = self.targets[s].shape[1] - 2 * self.half
        centre = int(pool[rng.integers(pool.size)])
        cy, cx = divmod(centre, nx)
        size = int(round(self.patch * zoom))
        y0 = cy + self.half - size // 2 + int(rng.integers(-size // 4, size // 4 + 1))
        x0 = cx + self.half - size // 2 + int(rng.integers(-size // 4, size // 4 + 1))
        y0 = int(np.clip(y0, 0, self.targets[s].shape[0] - size))
        x0 = int(np.clip(x0, 0, self.targets[s].shape[1] - size))
        return (
            self.images[s][:, y0 : y0 + size, x0 : x0 + size],
            self.targets[s][y0 : y0 + size, x0 : x0 + size],
        )


def _batch(sampler, rng, batch_size, patch, aug):
    imgs, tgts = [], []
    for _ in range(batch_size):
        zoom = float(np.exp(rng.uniform(*np.log(aug["zoom"]))))
        img, tgt = sampler.draw(rng, zoom)
        img_t = torch.from_numpy(np.ascontiguousarray(img))[None]
        tgt_t = torch.from_numpy(np.ascontiguousarray(tgt))[None, None].float()
        if img_t.shape[-1] != patch:
            img_t = F.interpolate(img_t, size=(patch, patch), mode="bilinear", align_corners=False)
            tgt_t = F.interpolate(tgt_t, size=(patch, patch), mode="nearest")
        imgs.append(img_t[0])
        tgts.append(tgt_t[0, 0].long())
    return _augment(torch.stack(imgs), torch.stack(tgts), rng, aug)


def _fit_unet(
    items, n_classes, context, *, epochs, patch, batch_size, width, depth, lr, seed, device,
    aug=AUGMENT,
):
    """Train a U-Net on (context stack, class indices) items; returns (net, settings)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    counts = np.bincount(
        np.concatenate([t[t >= 0] for _, t in items]).ravel(), minlength=n_classes
    ).astype(float)
    freq = counts / counts.sum()
    weights = 1.0 / np.sqrt(freq)
    weights /= weights.mean()
    sampler = _PatchSampler(items, patch, n_classes)
    steps_per_epoch = max(8, math.ceil(counts.sum() / (patch * patch * batch_size)))
    total = max(1, epochs) * steps_per_epoch
    net = UNet(2 * context + 1, n_classes, width=width, depth=depth).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.1)
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=torch.tensor(weights, dtype=torch.float32, device=device), ignore_index=IGNORE_INDEX
    )
    net.train()
    t0 = time.perf_counter()
    losses = []
    for _step in track(range(total), "training U-Net"):
        x, y = _batch(sampler, rng, batch_size, patch, aug)
        x, y = x.to(device), y.to(device)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
            loss = loss_fn(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()
        losses.append(float(loss.detach()))
    net.eval()
    settings = {
        "epochs": epochs,
        "steps": total,
        "patch": patch,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "class_weights": [float(w) for w in weights],
        "class_frequencies": [float(f) for f in freq],
        "augment": {k: list(v) if isinstance(v, tuple) else v for k, v in aug.items()},
        "device": device.type,
        "mixed_precision": use_amp,
        "final_loss": float(np.mean(losses[-max(1, total // 10) :])),
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    log.info("trained %d steps in %.0f s, final loss %.3f", total, settings["train_seconds"],
             settings["final_loss"])
    return net.cpu().eval(), settings


def _train(
    raw: list[tuple[np.ndarray, np.ndarray, str]],
    out_path: str | Path,
    *,
    phases: dict[str, int] | None,
    ignore_value: int | None,
    norm: Normalisation,
    context: int,
    method: str,
    epochs: int,
    patch: int,
    batch_size: int,
    width: int,
    depth: int,
    lr: float,
    seed: int,
    device: str | torch.device | None,
    threads: int | None,
    sources: list[str],
) -> SegmentModel:
    if method not in ("cnn", "rf"):
        raise ConfigError(f"training method {method!r}: expected 'cnn' or 'rf'")
    if threads:
        torch.set_num_threads(threads)
    phases = _resolve_phases(raw, phases, ignore_value)
    values = list(phases.values())
    labelled = [(img, to_targets(lab, values, ignore_value), src) for img, lab, src in raw]
    means, order_warnings = check_label_order(labelled, list(phases), context)
    items = [(img, target) for img, target, _ in labelled]
    training = {
        "sources": sources,
        "slices": len(items),
        "ignore_value": ignore_value,
        "method": method,
        "label_grey_means": means,
        "label_warnings": order_warnings,
    }
    model = SegmentModel(
        kind="unet" if method == "cnn" else "rf",
        phases=phases,
        normalisation=norm,
        context=context if method == "cnn" else 0,
    )
    if method == "rf":
        from tomosnake.segment.classical import train_forest

        model.forest = train_forest(
            [(img[context], t) for img, t in items], len(phases), seed=seed, threads=threads
        )
        training["seed"] = seed
    else:
        dev = torch.device(device) if device else default_device()
        model.arch = {"width": width, "depth": depth}
        model.network, settings = _fit_unet(
            items, len(phases), context, epochs=epochs, patch=patch, batch_size=batch_size,
            width=width, depth=depth, lr=lr, seed=seed, device=dev,
        )
        training.update(settings)
    model.training = training
    model.save(out_path)
    return model


def train_model(
    data_dirs: list[str | Path],
    out_path: str | Path,
    *,
    phases: dict[str, int] | None = None,
    ignore_value: int | None = None,
    method: str = "cnn",
    epochs: int = 40,
    patch: int = 128,
    batch_size: int = 8,
    width: int = 16,
    depth: int = 3,
    lr: float = 3e-3,
    seed: int = 0,
    device: str | None = None,
    threads: int | None = None,
    normalisation: Normalisation | None = None,
) -> SegmentModel:
    """Train a 2-D U-Net (``method="cnn"``) or random forest (``"rf"``) and write ``out_path``.

    Each entry of ``data_dirs`` is a SegmentPy folder (``N.tif`` grey slices,
    ``N_label.tif`` labels; slices of equal size form one acquisition and share
    one normalisation) or a ``"GREY,LABELS"`` pair of volume paths (zarr or TIFF)
    whose labels may be sparse (``ignore_value`` where unlabelled).
    ``phases`` maps phase names to label values (class order = dict order);
    without it the label values found are used, named ``class_<value>``.
    One epoch is as many patches as there are labelled pixels.
    """
    norm = normalisation or Normalisation()
    raw: list[tuple[np.ndarray, np.ndarray, str]] = []
    for entry in data_dirs:
        entry = str(entry)
        if "," in entry:
            grey, labels, name = open_pair(entry)
            raw += labelled_planes(grey, labels, norm, ignore_value, 0, name)
        else:
            raw += load_segmentpy(entry, norm, ignore_value)
    return _train(
        raw, out_path, phases=phases, ignore_value=ignore_value, norm=norm, context=0,
        method=method, epochs=epochs, patch=patch, batch_size=batch_size, width=width,
        depth=depth, lr=lr, seed=seed, device=device, threads=threads,
        sources=[str(d) for d in data_dirs],
    )


def train_from_volume(
    volume,
    labels,
    out_path: str | Path,
    ignore_value: int | None = 255,
    *,
    phases: dict[str, int] | None = None,
    context: int = 0,
    method: str = "cnn",
    epochs: int = 40,
    patch: int = 128,
    batch_size: int = 8,
    width: int = 16,
    depth: int = 3,
    lr: float = 3e-3,
    seed: int = 0,
    device: str | None = None,
    threads: int | None = None,
    normalisation: Normalisation | None = None,
) -> SegmentModel:
    """Train on the labelled voxels of a (z, y, x) volume and write ``out_path``.

    ``volume``/``labels`` are arrays or paths (zarr store / TIFF stack) of equal
    shape; voxels equal to ``ignore_value`` are unlabelled, and z-slices with no
    labelled voxel are skipped. ``context`` > 0 trains a 2.5-D model that sees
    ``context`` slices above and below. ``phases`` defaults to the workflow's
    canonical pore=0, cbd=1, nmc=2. Other arguments as :func:`train_model`.
    """
    norm = normalisation or Normalisation()
    name = str(volume) if isinstance(volume, str | Path) else "volume"
    vol = open_volume(volume) if isinstance(volume, str | Path) else np.asarray(volume)
    lab = open_volume(labels) if isinstance(labels, str | Path) else np.asarray(labels)
    raw = labelled_planes(vol, lab, norm, ignore_value, context, name)
    return _train(
        raw, out_path, phases=CANONICAL_PHASES if phases is None else phases,
        ignore_value=ignore_value, norm=norm, context=context,
        method=method, epochs=epochs, patch=patch, batch_size=batch_size, width=width,
        depth=depth, lr=lr, seed=seed, device=device, threads=threads, sources=[name],
    )
