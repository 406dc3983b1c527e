"""Where the segmentation is unsure, and which slices to label next: ``segment_qc.json``.

Segmenting with a model (rf, cnn) gives every voxel a confidence, the probability of the
class it was given. :class:`SliceSummary` condenses it per z-slice (mean confidence and the
fraction of voxels below ``LOW_CONFIDENCE``); each slab job stores its summary in its labels
store's ``slice_confidence`` attribute, :func:`merge_slice_summaries` joins the slabs, and
:func:`segment_qc` builds the scan's QC record, with :func:`suggest_slices` naming the least
confident slices (active learning: the next labels go where the model is least sure).
The model file says which slices of which reconstruction it was trained on; if that
reconstruction's labelled slices have changed since, :func:`model_warnings` says so.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tomosnake.config import defaults
from tomosnake.errors import InputError
from tomosnake.io import atomic_output

QC_SCHEMA = "tomosnake.segment_qc/1"
#: probability of the chosen class below which a voxel counts as low-confidence, and slices
#: suggested for labelling (config schema: segment.low_confidence, segment.suggest)
LOW_CONFIDENCE = float(defaults("segment")["low_confidence"])
N_SUGGEST = int(defaults("segment")["suggest"])


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes (a model file)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def grey_sha256(plane: np.ndarray) -> str:
    """Fingerprint of one grey slice: SHA-256 of its values as little-endian float32."""
    return hashlib.sha256(np.ascontiguousarray(plane, dtype="<f4").tobytes()).hexdigest()


class SliceSummary:
    """Accumulates per-slice confidence statistics of uint8 confidence planes (value/255)."""

    def __init__(self, low_confidence: float = LOW_CONFIDENCE):
        if not 0 < low_confidence <= 1:
            raise ValueError(f"low_confidence {low_confidence} must be in (0, 1]")
        self.threshold = float(low_confidence)
        self.z: list[int] = []
        self.mean: list[float] = []
        self.low: list[float] = []

    def add(self, z0: int, confidence: np.ndarray) -> None:
        """Add planes z0, z0+1, ... of a (n, y, x) uint8 confidence block."""
        cut = self.threshold * 255
        for i, plane in enumerate(confidence):
            self.z.append(int(z0 + i))
            self.mean.append(round(float(plane.mean()) / 255, 5))
            self.low.append(round(float(np.mean(plane < cut)), 5))

    def to_dict(self) -> dict[str, Any]:
        return {"z": self.z, "mean_confidence": self.mean, "low_confidence_fraction": self.low,
                "low_confidence_threshold": self.threshold}


def merge_slice_summaries(summaries: Sequence[Mapping[str, Any] | None]) -> dict | None:
    """One summary from the summaries of several slabs (any order); None if any is None.

    InputError if slabs overlap or were made with different thresholds.
    """
    if not summaries or any(s is None for s in summaries):
        return None
    thresholds = {float(s["low_confidence_threshold"]) for s in summaries}
    if len(thresholds) != 1:
        raise InputError(f"slabs were summarised with different thresholds {sorted(thresholds)}")
    rows = sorted(
        (int(z), float(m), float(f))
        for s in summaries
        for z, m, f in zip(s["z"], s["mean_confidence"], s["low_confidence_fraction"],
                           strict=True)
    )
    zs = [r[0] for r in rows]
    if len(set(zs)) != len(zs):
        raise InputError("slab confidence summaries overlap in z")
    return {"z": zs, "mean_confidence": [r[1] for r in rows],
            "low_confidence_fraction": [r[2] for r in rows],
            "low_confidence_threshold": thresholds.pop()}


def read_slice_summaries(stores: Sequence[str | os.PathLike[str]]) -> dict | None:
    """Merged ``slice_confidence`` attributes of labels (slab) stores; None if any has none."""
    import zarr

    found = []
    for p in stores:
        try:
            attrs = dict(zarr.open_array(store=str(p), mode="r").attrs)
        except Exception as exc:  # zarr raises several types for unreadable stores
            raise InputError(f"{p}: not a readable labels store ({exc})") from exc
        found.append(attrs.get("slice_confidence"))
    return merge_slice_summaries(found)


def suggest_slices(
    summary: Mapping[str, Any] | None,
    n: int = N_SUGGEST,
    exclude: Sequence[int] = (),
    min_gap: int | None = None,
) -> list[int]:
    """The ``n`` least confident slices, at least ``min_gap`` slices apart and from ``exclude``.

    Slices are ranked by mean confidence (lowest first). ``min_gap`` (default: half the
    spacing of ``n + len(exclude)`` evenly spread slices, at least 1) keeps neighbours of one
    poorly segmented region from taking every place. Returns sorted slice indices.
    """
    if summary is None or n <= 0:
        return []
    zs = np.asarray(summary["z"], int)
    mean = np.asarray(summary["mean_confidence"], float)
    if min_gap is None:
        span = int(zs.max() - zs.min() + 1) if zs.size else 1
        min_gap = max(1, span // (2 * (n + len(exclude))))
    taken = [int(z) for z in exclude]
    chosen: list[int] = []
    for i in np.argsort(mean, kind="stable"):
        z = int(zs[i])
        if all(abs(z - t) >= min_gap for t in taken):
            chosen.append(z)
            taken.append(z)
            if len(chosen) == n:
                break
    return sorted(chosen)


def model_record(model_path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Hash, training sources and warnings of a model file ({} entries for no model)."""
    if model_path is None:
        return {"sha256": None, "label_sources": [], "warnings": []}
    from tomosnake.segment.modelfile import load_model

    model = load_model(model_path)
    t = model.training
    return {
        "sha256": file_sha256(model_path),
        "label_sources": list(t.get("label_sources", [])),
        "warnings": list(t.get("warnings", [])) + list(t.get("label_warnings", [])),
    }


def _same(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def labelled_slices_of(record: Mapping[str, Any], recon: str | os.PathLike[str]) -> list[int]:
    """Slices of ``recon`` that the model (``model_record``) was trained on."""
    return sorted({int(z) for src in record["label_sources"]
                   if src.get("recon") and _same(src["recon"], recon) for z in src["z"]})


def model_warnings(record: Mapping[str, Any], recon: str | os.PathLike[str]) -> list[str]:
    """Warnings for labelled slices of ``recon`` whose grey values changed since training."""
    from tomosnake.io import open_volume

    out = []
    for src in record["label_sources"]:
        if not src.get("recon") or not _same(src["recon"], recon):
            continue
        vol = open_volume(recon)
        changed = [int(z) for z, sha in src.get("grey_sha256", {}).items()
                   if int(z) >= vol.shape[0] or grey_sha256(vol[int(z)]) != sha]
        if changed:
            out.append(
                f"{src['labels']}: slices {changed} of {recon} have changed since the model "
                "was trained on them (reconstruction redone?); retrain, and check the labels "
                "still fit the new slices"
            )
    return out


def segment_qc(
    method: str,
    phases: Mapping[str, int],
    summary: Mapping[str, Any] | None = None,
    model_path: str | os.PathLike[str] | None = None,
    recon: str | os.PathLike[str] | None = None,
    n_suggest: int = N_SUGGEST,
    min_gap: int | None = None,
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``segment_qc.json`` record of one scan (schema ``tomosnake.segment_qc/1``).

    ``summary``: merged per-slice confidence (None for otsu). ``model_path``: the model
    used (hashed; its training record gives the scan's labelled slices and warnings).
    ``recon``: the scan's reconstruction, to find its labelled slices and check that
    they did not change since training. Suggested slices avoid labelled ones.
    """
    record = model_record(model_path)
    labelled = labelled_slices_of(record, recon) if recon is not None else []
    warn = list(warnings) + list(record["warnings"])
    if recon is not None:
        warn += model_warnings(record, recon)
    per_slice = None
    threshold = LOW_CONFIDENCE
    if summary is not None:
        per_slice = {k: list(summary[k])
                     for k in ("z", "mean_confidence", "low_confidence_fraction")}
        threshold = float(summary["low_confidence_threshold"])
    return {
        "schema": QC_SCHEMA,
        "method": method,
        "model": str(model_path) if model_path is not None else None,
        "model_sha256": record["sha256"],
        "phases": dict(phases),
        "per_slice": per_slice,
        "low_confidence_threshold": threshold,
        "suggested_slices": suggest_slices(summary, n_suggest, labelled, min_gap),
        "labelled_slices": labelled,
        "warnings": warn,
    }


def write_segment_qc(
    out: str | os.PathLike[str],
    slabs: Sequence[str | os.PathLike[str]],
    recon: str | os.PathLike[str] | None = None,
    n_suggest: int = N_SUGGEST,
    warnings: Sequence[str] = (),
) -> Path:
    """Write ``segment_qc.json`` for a scan from its labels slab stores (atomically).

    Method, phases and model come from the first slab's attributes (as
    :func:`~tomosnake.segment.volume.segment_volume` writes them); the per-slice summaries
    of all slabs are merged.
    """
    import zarr

    first = dict(zarr.open_array(store=str(slabs[0]), mode="r").attrs)
    summary = read_slice_summaries(slabs) if first.get("method") != "otsu" else None
    qc = segment_qc(first["method"], first["phases"], summary, first.get("model"), recon,
                    n_suggest=n_suggest, warnings=warnings)
    with atomic_output(out) as tmp:
        Path(tmp).write_text(json.dumps(qc, indent=1) + "\n")
    return Path(out)
