"""Training a segmentation model from a handful of labelled slices.

Labels may be dense (SegmentPy slices) or sparse (scribbles in a zarr volume,
``ignore_value`` where unlabelled). The U-Net is trained on random patches
centred on labelled pixels (half of them drawn class-balanced, which already
gives the thin carbon-binder phase its share), with flips, 90-degree rotations,
zoom, intensity and noise augmentation, and a cross-entropy loss (optionally
class-weighted, Dice + CE or focal). Everything random is seeded; the model file
records classes, normalisation, settings and, for :func:`train_from_labels`,
which slices of which reconstruction the labels were painted on.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tomosnake.config import defaults
from tomosnake.errors import ConfigError, InputError
from tomosnake.io import open_volume
from tomosnake.progress import track
from tomosnake.segment.data import (
    CANONICAL_PHASES,
    IGNORE_INDEX,
    check_label_order,
    check_label_values,
    context_stack,
    labelled_planes,
    load_segmentpy,
    open_pair,
    to_targets,
)
from tomosnake.segment.infer import default_device
from tomosnake.segment.labels import (
    SIDECAR,
    UNLABELLED,
    LabelledSlices,
    read_label_source,
    read_truth_slices,
)
from tomosnake.segment.modelfile import SegmentModel
from tomosnake.segment.normalise import Normalisation, apply
from tomosnake.segment.qc import grey_sha256
from tomosnake.segment.unet import UNet
from tomosnake.threads import current as current_threads
from tomosnake.training import TRAIN_KEYS

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
        zoom = float(np.exp(rng.uniform(*np.log(aug["zoom"])))) if aug else 1.0
        img, tgt = sampler.draw(rng, zoom)
        img_t = torch.from_numpy(np.ascontiguousarray(img))[None]
        tgt_t = torch.from_numpy(np.ascontiguousarray(tgt))[None, None].float()
        if img_t.shape[-1] != patch:
            img_t = F.interpolate(img_t, size=(patch, patch), mode="bilinear", align_corners=False)
            tgt_t = F.interpolate(tgt_t, size=(patch, patch), mode="nearest")
        imgs.append(img_t[0])
        tgts.append(tgt_t[0, 0].long())
    if not aug:
        return torch.stack(imgs), torch.stack(tgts)
    return _augment(torch.stack(imgs), torch.stack(tgts), rng, aug)


def _dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - mean soft Dice over classes, unlabelled (-1) pixels excluded."""
    prob = torch.softmax(logits, 1)
    valid = (target >= 0).unsqueeze(1)
    onehot = F.one_hot(target.clamp(min=0), logits.shape[1]).permute(0, 3, 1, 2) * valid
    prob = prob * valid
    inter = (prob * onehot).sum((0, 2, 3))
    total = prob.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    return 1 - ((2 * inter + 1) / (total + 1)).mean()


def _loss_fn(kind: str, weights: torch.Tensor):
    ce = torch.nn.CrossEntropyLoss(weight=weights, ignore_index=IGNORE_INDEX)
    if kind == "ce":
        return ce
    if kind == "dice_ce":
        return lambda logits, y: ce(logits, y) + _dice_loss(logits, y)
    if kind == "focal":
        def focal(logits, y):
            per = F.cross_entropy(logits, y, weight=weights, ignore_index=IGNORE_INDEX,
                                  reduction="none")
            pt = torch.exp(-F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX,
                                            reduction="none"))
            valid = y >= 0
            return ((1 - pt) ** 2 * per)[valid].mean()
        return focal
    raise ConfigError(f"loss {kind!r}: expected 'ce', 'dice_ce' or 'focal'")


def _fit_unet(
    items, n_classes, context, *, epochs, patch, batch_size, width, depth, lr, seed, device,
    aug=AUGMENT, loss="ce", class_weight_power=0.0,
):
    """Train a U-Net on (context stack, class indices) items; returns (net, settings)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    counts = np.bincount(
        np.concatenate([t[t >= 0] for _, t in items]).ravel(), minlength=n_classes
    ).astype(float)
    freq = counts / counts.sum()
    weights = np.maximum(freq, 1e-6) ** -class_weight_power
    weights /= weights.mean()
    sampler = _PatchSampler(items, patch, n_classes)
    steps_per_epoch = max(8, math.ceil(counts.sum() / (patch * patch * batch_size)))
    total = max(1, epochs) * steps_per_epoch
    net = UNet(2 * context + 1, n_classes, width=width, depth=depth).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.1)
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    loss_fn = _loss_fn(loss, torch.tensor(weights, dtype=torch.float32, device=device))
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
        "augment": {k: list(v) if isinstance(v, tuple) else v for k, v in (aug or {}).items()},
        "loss": loss,
        "class_weight_power": class_weight_power,
        "device": device.type,
        "mixed_precision": use_amp,
        "final_loss": float(np.mean(losses[-max(1, total // 10) :])),
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    log.info("trained %d steps in %.0f s, final loss %.3f", total, settings["train_seconds"],
             settings["final_loss"])
    return net.cpu().eval(), settings


#: training settings of ``tomosnake segment train`` and of the workflow's training rule; the
#: config schema's ``segment`` section mirrors these keys (epochs: one epoch draws as many
#: patch pixels as there are labelled pixels; class_weight_power p weighs each class by
#: frequency^-p; loss "ce", "dice_ce" or "focal")
#: training settings of the U-Net (all) and the random forest (seed); defaults from the
#: config schema's ``segment`` section (workflow/schemas/config.schema.yaml)
DEFAULTS: dict[str, Any] = {"method": "cnn",
                            **{k: v for k, v in defaults("segment").items() if k in TRAIN_KEYS}}


def train_settings(**given: Any) -> dict[str, Any]:
    """:data:`DEFAULTS` updated with the ``given`` settings that are not None."""
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown training setting(s) {unknown}; known: {sorted(DEFAULTS)}")
    out = dict(DEFAULTS)
    out.update({k: v for k, v in given.items() if v is not None})
    if out["method"] not in ("cnn", "rf"):
        raise ConfigError(f"training method {out['method']!r}: expected 'cnn' or 'rf'")
    for key in ("epochs", "patch", "batch_size", "width", "depth"):
        if int(out[key]) < 1:
            raise ConfigError(f"training setting {key} must be >= 1, got {out[key]}")
    return out


def _train(
    raw: list[tuple[np.ndarray, np.ndarray, str]],
    out_path: str | Path,
    settings: dict[str, Any],
    *,
    phases: dict[str, int] | None,
    ignore_value: int | None,
    norm: Normalisation,
    context: int,
    device: str | torch.device | None,
    threads: int | None,
    record: dict[str, Any],
) -> SegmentModel:
    method, seed = settings["method"], int(settings["seed"])
    threads = threads or current_threads()
    torch.set_num_threads(threads)
    phases = _resolve_phases(raw, phases, ignore_value)
    values = list(phases.values())
    labelled = [(img, to_targets(lab, values, ignore_value), src) for img, lab, src in raw]
    means, order_warnings = check_label_order(labelled, list(phases), context)
    items = [(img, target) for img, target, _ in labelled]
    training = {
        **record,
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
        model.arch = {"width": int(settings["width"]), "depth": int(settings["depth"])}
        model.network, fitted = _fit_unet(
            items, len(phases), context, device=dev,
            **{k: v for k, v in settings.items() if k != "method"},
        )
        training.update(fitted)
    model.training = training
    model.save(out_path)
    return model


def train_model(
    data_dirs: list[str | Path],
    out_path: str | Path,
    *,
    phases: dict[str, int] | None = None,
    ignore_value: int | None = None,
    device: str | None = None,
    threads: int | None = None,
    normalisation: Normalisation | None = None,
    **settings: Any,
) -> SegmentModel:
    """Train a 2-D U-Net (``method="cnn"``) or random forest (``"rf"``) and write ``out_path``.

    Each entry of ``data_dirs`` is a SegmentPy folder (``N.tif`` grey slices,
    ``N_label.tif`` labels; slices of equal size form one acquisition and share
    one normalisation) or a ``"GREY,LABELS"`` pair of volume paths (zarr or TIFF)
    whose labels may be sparse (``ignore_value`` where unlabelled).
    ``phases`` maps phase names to label values (class order = dict order);
    without it the label values found are used, named ``class_<value>``.
    ``settings``: any key of :data:`DEFAULTS` (method, epochs, patch, ...).
    """
    settings = train_settings(**settings)
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
        raw, out_path, settings, phases=phases, ignore_value=ignore_value, norm=norm,
        context=0, device=device, threads=threads,
        record={"sources": [str(d) for d in data_dirs]},
    )


def train_from_volume(
    volume,
    labels,
    out_path: str | Path,
    ignore_value: int | None = 255,
    *,
    phases: dict[str, int] | None = None,
    context: int = 0,
    device: str | None = None,
    threads: int | None = None,
    normalisation: Normalisation | None = None,
    **settings: Any,
) -> SegmentModel:
    """Train on the labelled voxels of a (z, y, x) volume and write ``out_path``.

    ``volume``/``labels`` are arrays or paths (zarr store / TIFF stack) of equal
    shape; voxels equal to ``ignore_value`` are unlabelled, and z-slices with no
    labelled voxel are skipped. ``context`` > 0 trains a 2.5-D model that sees
    ``context`` slices above and below. ``phases`` defaults to the workflow's
    canonical pore=0, cbd=1, nmc=2. Other arguments as :func:`train_model`.
    """
    settings = train_settings(**settings)
    norm = normalisation or Normalisation()
    name = str(volume) if isinstance(volume, str | Path) else "volume"
    vol = open_volume(volume) if isinstance(volume, str | Path) else np.asarray(volume)
    lab = open_volume(labels) if isinstance(labels, str | Path) else np.asarray(labels)
    raw = labelled_planes(vol, lab, norm, ignore_value, context, name)
    return _train(
        raw, out_path, settings, phases=CANONICAL_PHASES if phases is None else phases,
        ignore_value=ignore_value, norm=norm, context=context, device=device,
        threads=threads, record={"sources": [name]},
    )


#: correlation below which a SegmentPy folder's grey slice is taken not to be the
#: reconstruction's slice of the same index
GREY_MATCH = 0.9


def _check_against_recon(ls: LabelledSlices, vol, norm_lo_hi, where: str) -> tuple[dict, list]:
    """Per-slice grey fingerprints of ``vol`` at the labelled z, and warnings.

    Warns when the slices differ from those the labels were exported from (sidecar
    fingerprints) or, for a SegmentPy folder, from its own grey slices; raises InputError
    when NMC comes out darker than pore (a swapped phase map, e.g. SegmentPy's 0 = NMC).
    """
    shas, warnings = {}, []
    recorded = ls.sidecar.get("slices", {}) if ls.kind != "zarr" else {}
    dark, bright = [], []
    lo, hi = norm_lo_hi
    for i, z in enumerate(ls.z):
        plane = np.asarray(vol[z], np.float32)
        shas[str(z)] = grey_sha256(plane)
        sha0 = recorded.get(str(z), {}).get("grey_sha256")
        if sha0 is not None and sha0 != shas[str(z)]:
            warnings.append(f"{ls.files[i]}: painted on a different slice {z} than {where} now "
                            "holds (reconstruction redone since export?)")
        if ls.grey is not None and sha0 is None:
            r = float(np.corrcoef(ls.grey[i].ravel(), plane.ravel())[0, 1])
            if not r >= GREY_MATCH:
                warnings.append(f"{ls.files[i]}: its grey slice correlates only {r:.2f} with "
                                f"slice {z} of {where}; are the slice index and scan right?")
        lab = ls.labels[i]
        norm = (plane - lo) / (hi - lo)
        if np.any(lab == ls.phases["pore"]) and np.any(lab == ls.phases["nmc"]):
            dark.append(float(norm[lab == ls.phases["pore"]].mean()))
            bright.append(float(norm[lab == ls.phases["nmc"]].mean()))
    if dark and np.mean(bright) < np.mean(dark):
        raise InputError(
            f"{ls.source}: the voxels labelled nmc (value {ls.label_phases['nmc']}) are darker "
            f"than those labelled pore (value {ls.label_phases['pore']}) in {where}: the phase "
            f"map {ls.label_phases} looks swapped (SegmentPy paints nmc=0, cbd=1, pore=2); "
            f"state the map in {SIDECAR} or segment.label_phases"
        )
    return shas, warnings


def train_from_labels(
    out_path: str | Path,
    labelled: Sequence[tuple[Any, Any]] = (),
    simulated: Sequence[tuple[Any, Any]] = (),
    *,
    truth_slices: Sequence[int] = (),
    label_phases: dict[str, int] | None = None,
    unlabelled: int | None = None,
    context: int = 0,
    device: str | None = None,
    threads: int | None = None,
    normalisation: Normalisation | None = None,
    **settings: Any,
) -> SegmentModel:
    """Train one model on hand-labelled slices of reconstructions (and simulated truth).

    Args:
        out_path: model file to write.
        labelled: (reconstruction, label source) pairs: the reconstruction a zarr array
            store (e.g. ``results/{scan}/recon.zarr``) or TIFF stack, the label source a
            path :func:`~tomosnake.segment.labels.read_label_source` reads or a
            :class:`LabelledSlices`.
        simulated: (reconstruction, ``NAME_truth.zarr``) pairs of simulated scans whose
            ground-truth slices ``truth_slices`` are used.
        label_phases, unlabelled: phase map and unlabelled value of label sources that
            carry no sidecar (see :func:`read_label_source`).
        context: z-slices on each side seen by a 2.5-D U-Net (0 = 2-D).
        settings: any key of :data:`DEFAULTS`.

    Each reconstruction is normalised on its own percentiles (as at inference). The
    model file records, per source, the label source, the reconstruction, the labelled
    slices, their grey fingerprints (:func:`~tomosnake.segment.qc.grey_sha256`) and a
    hash of the labels; ``training["warnings"]`` lists what looked wrong.
    """
    settings = train_settings(**settings)
    if not labelled and not simulated:
        raise ConfigError("no training data: give labelled slices or simulated scans")
    norm = normalisation or Normalisation()
    raw: list[tuple[np.ndarray, np.ndarray, str]] = []
    records, warnings = [], []
    pairs = [(r, s, False) for r, s in labelled] + [(r, s, True) for r, s in simulated]
    for recon, source, is_truth in pairs:
        where = str(recon) if isinstance(recon, str | Path) else "volume"
        vol = open_volume(recon) if isinstance(recon, str | Path) else np.asarray(recon)
        if vol.ndim != 3:
            raise InputError(f"{where}: expected a (z, y, x) volume, got shape {vol.shape}")
        if isinstance(source, LabelledSlices):
            ls = source
        elif is_truth:
            ls = read_truth_slices(source, truth_slices)
        else:
            ls = read_label_source(source, tuple(vol.shape), label_phases, unlabelled)
        if ls.labels.shape[1:] != tuple(vol.shape[1:]) or max(ls.z) >= vol.shape[0]:
            raise InputError(f"{ls.source}: labels of {ls.labels.shape[1:]} slices up to z="
                             f"{max(ls.z)} do not fit {where} {tuple(vol.shape)}")
        lo, hi = norm.measure(vol, name=where)
        shas, warn = _check_against_recon(ls, vol, (lo, hi), where)
        warnings += ls.warnings + warn
        for z, lab, f in zip(ls.z, ls.labels, ls.files, strict=True):
            raw.append((apply(context_stack(vol, z, context), lo, hi), lab, f))
        records.append({"labels": ls.source, "kind": ls.kind, "recon": where, "z": ls.z,
                        "label_phases": ls.label_phases, "grey_sha256": shas,
                        "labels_sha256": ls.labels_sha256()})
    for w in warnings:
        log.warning(w)
    return _train(
        raw, out_path, settings, phases=dict(CANONICAL_PHASES), ignore_value=UNLABELLED,
        norm=norm, context=context, device=device, threads=threads,
        record={"sources": [r["labels"] for r in records], "label_sources": records,
                "warnings": warnings},
    )
