"""Segmenting whole volumes chunk by chunk: recon.zarr -> labels.zarr (+ confidence).

With a model (rf, cnn) the labels' attributes also carry ``slice_confidence``, a per-slice
summary of the per-voxel confidence (:class:`tomosnake.segment.qc.SliceSummary`) from which
``segment_qc.json`` and the slices worth labelling next are made.

The volume is read in slabs of ``chunk_z`` slices plus ``halo`` slices of
context on each side (clipped at the volume ends), so that every slice sees the
same neighbourhood however the volume is chunked: the labels do not depend on
``chunk_z`` and memory is bounded by one slab, not the volume. Normalisation
percentiles and Otsu thresholds are measured once on a strided subsample of the
whole volume.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from tomosnake import sketch
from tomosnake.errors import ConfigError, InputError
from tomosnake.io import atomic_output, create_volume, open_volume, volume_attrs, write_volume
from tomosnake.io.volume import TIFF_SUFFIXES
from tomosnake.progress import track
from tomosnake.segment.classical import otsu_classes, otsu_thresholds
from tomosnake.segment.data import CANONICAL_PHASES
from tomosnake.segment.infer import default_device, forest_probabilities, unet_probabilities
from tomosnake.segment.modelfile import SegmentModel, check_phases, load_model
from tomosnake.segment.normalise import apply, sample_values, stored_sketch
from tomosnake.segment.qc import LOW_CONFIDENCE, SliceSummary, file_sha256

log = logging.getLogger(__name__)

METHODS = ("otsu", "rf", "cnn")
#: confidence is stored as uint8: value / 255 = probability of the chosen class
CONFIDENCE_SCALE = 1 / 255


def _slabs(nz: int, z0: int, z1: int, chunk_z: int, halo: int) -> Iterator[tuple[int, ...]]:
    """(read_start, read_stop, out_start, out_stop) per slab of [z0, z1) of an nz-slice volume."""
    for a in range(z0, z1, chunk_z):
        b = min(a + chunk_z, z1)
        yield max(0, a - halo), min(nz, b + halo), a, b


def _otsu_sample(vol) -> np.ndarray:
    """Grey values to place Otsu thresholds on: the stored sketch's quantiles, else a sample."""
    sk = stored_sketch(vol)
    return sketch.samples(sk) if sk is not None else sample_values(vol, "input volume")


class _Classifier:
    """Labels + confidence of slab slices, given the slab with its halo."""

    def __init__(self, method: str, vol, phases, model: SegmentModel | None, tta, device):
        self.method, self.model, self.tta = method, model, tta
        self.device = device
        if method == "otsu":
            self.phases = dict(phases or CANONICAL_PHASES)
            self.thresholds = otsu_thresholds(_otsu_sample(vol), len(self.phases))
            self.context = 0
        else:
            self.phases = model.phases
            self.lo, self.hi = model.normalisation.measure(vol, name="input volume")
            self.context = model.context
        self.lut = np.asarray(list(self.phases.values()), np.uint8)

    def __call__(self, slab: np.ndarray, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Labels and uint8 confidence of slab slices [first, first + count)."""
        if self.method == "otsu":
            cls = otsu_classes(slab[first : first + count], self.thresholds)
            return self.lut[cls], None
        norm = apply(slab, self.lo, self.hi)
        labels = np.empty((count, *slab.shape[1:]), np.uint8)
        conf = np.empty_like(labels)
        c = self.context
        for i in range(count):
            z = first + i
            idx = np.clip(np.arange(z - c, z + c + 1), 0, len(slab) - 1)
            stack = norm[idx]
            if self.method == "cnn":
                prob = unet_probabilities(self.model, stack, self.tta, self.device)
            else:
                prob = forest_probabilities(self.model, stack)
            cls = prob.argmax(0)
            labels[i] = self.lut[cls]
            conf[i] = np.round(np.take_along_axis(prob, cls[None], 0)[0] * 255)
        return labels, conf


def segment_volume(
    recon_path: str | Path,
    labels_path: str | Path,
    method: str = "otsu",
    model_path: str | Path | None = None,
    phases: dict[str, int] | None = None,
    chunk_z: int = 16,
    halo: int | None = None,
    z_range: tuple[int, int] | None = None,
    *,
    tta: bool = False,
    confidence_path: str | Path | None = None,
    device: str | None = None,
    low_confidence: float = LOW_CONFIDENCE,
    chunk_yx: int | None = None,
) -> Path:
    """Segment a (z, y, x) volume into a uint8 label volume, written atomically.

    ``recon_path``: zarr array store (e.g. recon.zarr) or TIFF stack/slice.
    ``labels_path``: zarr store, or a ``.tif`` (one TIFF, 2-D if the input is one
    slice). ``method``: "otsu" (multi-Otsu; ``phases`` in dict order dark to
    bright, default pore=0, cbd=1, nmc=2), "rf" or "cnn" (both need
    ``model_path``; ``phases``, if given, must equal the model's classes).
    ``chunk_z`` slices are processed at a time with ``halo`` context slices on
    each side (default: what the model needs; must be >= it). ``z_range``
    (start, stop) segments only those slices (context still read around them).
    ``tta`` averages the four flips (cnn). ``confidence_path`` also writes the
    probability of the chosen class as uint8 (x 1/255) with the same layout. A zarr
    output is chunked ``chunk_z`` slices x ``chunk_yx``^2 pixels (None: whole slices).
    Attributes: phases, voxel_size_um (from the input), method, source, model,
    model_sha256, z_range and, for rf/cnn, ``slice_confidence`` (per slice z of
    ``z_range``: mean confidence and the fraction of voxels below ``low_confidence``).
    """
    if method not in METHODS:
        raise ConfigError(f"segmentation method {method!r}: expected one of {METHODS}")
    if chunk_z < 1:
        raise ConfigError(f"chunk_z must be >= 1, got {chunk_z}")
    model = None
    if method in ("rf", "cnn"):
        if model_path is None:
            raise ConfigError(f"method {method!r} needs a model file (model_path)")
        model = load_model(model_path)
        want = "unet" if method == "cnn" else "rf"
        if model.kind != want:
            raise InputError(f"{model_path}: holds a {model.kind} model, not one for {method!r}")
        check_phases(model, phases, str(model_path))
    elif confidence_path is not None:
        raise ConfigError("multi-Otsu gives no per-voxel confidence; drop confidence_path")
    vol = open_volume(recon_path)
    if vol.ndim != 3:
        raise InputError(f"{recon_path}: expected a (z, y, x) volume, got shape {vol.shape}")
    if not np.issubdtype(vol.dtype, np.number) or np.issubdtype(vol.dtype, np.complexfloating):
        raise InputError(f"{recon_path}: expected real grey values, got dtype {vol.dtype}")
    nz = vol.shape[0]
    z0, z1 = z_range or (0, nz)
    if not 0 <= z0 < z1 <= nz:
        raise ConfigError(f"z_range {z_range} outside the volume's 0..{nz} slices")
    dev = torch.device(device) if device else default_device()
    clf = _Classifier(method, vol, phases, model, tta, dev)
    halo = clf.context if halo is None else halo
    if halo < clf.context:
        raise ConfigError(f"halo {halo} is smaller than the model's z-context {clf.context}")
    attrs = {
        "phases": clf.phases,
        "voxel_size_um": volume_attrs(vol).get("voxel_size_um"),
        "method": method,
        "source": str(recon_path),
        "model": str(model_path) if model_path else None,
        "model_sha256": file_sha256(model_path) if model_path else None,
        "z_range": [z0, z1],
    }
    summary = SliceSummary(low_confidence) if model is not None else None
    shape = (z1 - z0, *vol.shape[1:])
    slabs = list(_slabs(nz, z0, z1, chunk_z, halo))
    outputs = [(Path(labels_path), attrs)]
    if confidence_path is not None:
        outputs.append((Path(confidence_path), {**attrs, "scale": CONFIDENCE_SCALE}))
    if all(p.suffix.lower() in TIFF_SUFFIXES for p, _ in outputs):
        lab = np.empty(shape, np.uint8)
        conf = np.empty(shape, np.uint8)
        for r0, r1, a, b in track(slabs, f"segmenting ({method})"):
            lab[a - z0 : b - z0], c = clf(np.asarray(vol[r0:r1]), a - r0, b - a)
            if c is not None:
                conf[a - z0 : b - z0] = c
                summary.add(a, c)
        if summary is not None:
            for _, at in outputs:
                at["slice_confidence"] = summary.to_dict()
        for (p, at), arr in zip(outputs, (lab, conf), strict=False):
            write_volume(p, arr[0] if shape[0] == 1 else arr, at)
        return Path(labels_path)
    if any(p.suffix.lower() in TIFF_SUFFIXES for p, _ in outputs):
        raise ConfigError("labels and confidence outputs must both be zarr or both TIFF")
    chunks = (min(chunk_z, shape[0]), *(min(chunk_yx or n, n) for n in shape[1:]))
    conf_cm = atomic_output(confidence_path) if confidence_path else contextlib.nullcontext()
    with atomic_output(labels_path) as tmp_l, conf_cm as tmp_c:
        out_l = create_volume(tmp_l, shape, np.uint8, attrs, chunks)
        out_c = (
            create_volume(tmp_c, shape, np.uint8, outputs[-1][1], chunks) if tmp_c else None
        )
        for r0, r1, a, b in track(slabs, f"segmenting ({method})"):
            lab, c = clf(np.asarray(vol[r0:r1]), a - r0, b - a)
            out_l[a - z0 : b - z0] = lab
            if out_c is not None:
                out_c[a - z0 : b - z0] = c
            if summary is not None:
                summary.add(a, c)
        if summary is not None:
            for arr in (out_l, out_c):
                if arr is not None:
                    arr.attrs["slice_confidence"] = summary.to_dict()
    return Path(labels_path)

