"""Slices to paint: export reconstruction slices for hand labelling (the labelling round trip).

:func:`export_slices` writes chosen z-slices of a reconstruction, normalised as a model sees
them, as float32 ``N.tif`` in SegmentPy's convention, each with an ``N_label.tif`` to paint
in FIJI, napari or SegmentPy (pre-filled with a model's prediction when one is given, else
unlabelled), plus ``labels.json`` (phase map, unlabelled value and the fingerprint of every
exported slice). :func:`export_sparse` writes an empty label store the size of the volume
that napari paints into. :func:`auto_slices` picks slices: spread through the sample
(slices without sample, e.g. air above it, are avoided) or, with a model, the least
confident ones.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import zarr

from tomosnake.errors import ConfigError, InputError
from tomosnake.io import atomic_output, open_volume
from tomosnake.segment.data import CANONICAL_PHASES, context_stack
from tomosnake.segment.labels import (
    NAPARI_PHASES,
    SIDECAR,
    SIDECAR_SCHEMA,
    UNLABELLED,
    read_sidecar,
    write_sidecar,
)
from tomosnake.segment.modelfile import SegmentModel, load_model
from tomosnake.segment.normalise import Normalisation, apply
from tomosnake.segment.qc import file_sha256, grey_sha256, suggest_slices

log = logging.getLogger(__name__)

#: slices examined when choosing slices automatically
CANDIDATES = 256
#: of those, slices predicted with a model to rank them by confidence
CONFIDENCE_CANDIDATES = 48
#: a slice holds sample if its share of non-pore voxels reaches this part of the typical share
SAMPLE_SHARE = 0.3


def sample_slices(vol, candidates: int = CANDIDATES) -> list[int]:
    """Up to ``candidates`` evenly spaced z that hold sample (not air or empty).

    Per slice, the share of voxels brighter than the darkest multi-Otsu threshold (pore/air
    vs solid, measured on all candidates) is compared with the 90th percentile of that
    share: slices below :data:`SAMPLE_SHARE` of it are taken to be outside the sample.
    """
    from skimage.filters import threshold_otsu

    nz = vol.shape[0]
    zs = np.unique(np.linspace(0, nz - 1, min(nz, candidates)).round().astype(int))
    planes = [np.asarray(vol[int(z)], np.float32)[::4, ::4] for z in zs]
    values = np.concatenate([p.ravel() for p in planes])
    if not np.all(np.isfinite(values)) or values.min() == values.max():
        raise InputError("volume holds NaN/inf or constant grey values; nothing to export")
    cut = threshold_otsu(values)
    share = np.array([np.mean(p > cut) for p in planes])
    ref = np.percentile(share, 90)
    return [int(z) for z, s in zip(zs, share, strict=True) if s >= SAMPLE_SHARE * ref]


def spread(zs: Sequence[int], n: int, exclude: Sequence[int] = ()) -> list[int]:
    """``n`` of ``zs`` (sorted) at evenly spaced quantiles, skipping ``exclude``."""
    pool = [z for z in sorted(zs) if z not in set(exclude)]
    if n <= 0 or not pool:
        return []
    idx = np.unique(((np.arange(n) + 0.5) * len(pool) / n).astype(int).clip(0, len(pool) - 1))
    return [pool[i] for i in idx]


def _probabilities(model: SegmentModel, vol, z: int, lo: float, hi: float) -> np.ndarray:
    from tomosnake.segment.infer import forest_probabilities, unet_probabilities

    stack = apply(context_stack(vol, z, model.context), lo, hi)
    if model.kind == "unet":
        return unet_probabilities(model, stack)
    return forest_probabilities(model, stack)


def auto_slices(
    vol, n: int, model: SegmentModel | None = None, exclude: Sequence[int] = ()
) -> list[int]:
    """``n`` slices to label next: spread through the sample, or with ``model`` the least
    confident of :data:`CONFIDENCE_CANDIDATES` sample slices (none of ``exclude``)."""
    inside = sample_slices(vol)
    if model is None:
        return sorted(spread(inside, n, exclude))
    cands = spread(inside, CONFIDENCE_CANDIDATES, exclude)
    lo, hi = model.normalisation.measure(vol)
    mean = [float(_probabilities(model, vol, z, lo, hi).max(0).mean()) for z in cands]
    summary = {"z": cands, "mean_confidence": mean}
    return suggest_slices(summary, n, exclude, min_gap=max(1, vol.shape[0] // (4 * (n + 1))))


def _model_codes(model: SegmentModel) -> np.ndarray:
    """Class index -> workflow phase code."""
    missing = set(CANONICAL_PHASES) - set(model.phases)
    if missing:
        raise InputError(f"model phases {model.phases} lack {sorted(missing)}; cannot pre-fill")
    return np.array([CANONICAL_PHASES[name] for name in model.phases], np.uint8)


def export_slices(
    volume: str | Path,
    outdir: str | Path,
    slices: Sequence[int] = (),
    auto: int = 0,
    model_path: str | Path | None = None,
    normalisation: Normalisation | None = None,
) -> list[int]:
    """Write slices of ``volume`` (zarr store or TIFF stack, (z, y, x)) into ``outdir``.

    Per slice z: ``z.tif`` (float32 grey, normalised by the volume's percentiles, model's
    or ``normalisation``'s settings) and ``z_label.tif`` (uint8: pore=0, cbd=1, nmc=2 as
    predicted by ``model_path``, else 255 = unlabelled everywhere). ``slices`` are given
    indices; ``auto`` adds that many chosen by :func:`auto_slices`. Slices already
    labelled in ``outdir`` are never overwritten (InputError if asked for explicitly) and
    are excluded from automatic choice. ``labels.json`` is written or updated.
    Returns the exported slice indices.
    """
    outdir = Path(outdir)
    vol = open_volume(volume)
    if vol.ndim != 3:
        raise InputError(f"{volume}: expected a (z, y, x) volume, got shape {vol.shape}")
    nz = vol.shape[0]
    sidecar = read_sidecar(outdir) if outdir.is_dir() else {}
    if sidecar and (sidecar.get("phases") != CANONICAL_PHASES
                    or sidecar.get("unlabelled") != UNLABELLED):
        raise InputError(f"{outdir / SIDECAR}: states another phase map; export elsewhere")
    existing = sorted(int(p.name.split("_")[0]) for p in outdir.glob("*_label.tif")
                      if p.name.split("_")[0].isdigit()) if outdir.is_dir() else []
    for z in slices:
        if not 0 <= z < nz:
            raise ConfigError(f"slice {z} is outside {volume}'s slices 0..{nz - 1}")
        if z in existing:
            raise InputError(f"{outdir / f'{z}_label.tif'}: exists; not overwritten (painted "
                             "labels are yours); choose other slices")
    model = load_model(model_path) if model_path is not None else None
    chosen = sorted(set(slices))
    if auto:
        chosen = sorted(set(chosen) | set(auto_slices(vol, auto, model, existing + chosen)))
    if not chosen:
        raise ConfigError("no slices to export: give slices or auto > 0")
    norm = model.normalisation if model is not None else (normalisation or Normalisation())
    lo, hi = norm.measure(vol, name=str(volume))
    codes = _model_codes(model) if model is not None else None
    outdir.mkdir(parents=True, exist_ok=True)
    records = dict(sidecar.get("slices", {}))
    for z in chosen:
        plane = np.asarray(vol[z], np.float32)
        if model is not None:
            label = codes[_probabilities(model, vol, z, lo, hi).argmax(0)]
        else:
            label = np.full(plane.shape, UNLABELLED, np.uint8)
        with atomic_output(outdir / f"{z}.tif") as tmp:
            tifffile.imwrite(tmp, apply(plane, lo, hi), photometric="minisblack")
        with atomic_output(outdir / f"{z}_label.tif") as tmp:
            tifffile.imwrite(tmp, label, photometric="minisblack")
        records[str(z)] = {
            "grey_sha256": grey_sha256(plane),
            "prefill_sha256": hashlib.sha256(label.tobytes()).hexdigest() if model else None,
        }
    content: dict[str, Any] = {
        "phases": dict(CANONICAL_PHASES),
        "unlabelled": UNLABELLED,
        "volume": str(volume),
        "volume_shape": [int(s) for s in vol.shape],
        "normalisation": {**norm.to_dict(), "grey_low": lo, "grey_high": hi},
        "model": str(model_path) if model_path is not None else None,
        "model_sha256": file_sha256(model_path) if model_path is not None else None,
        "slices": dict(sorted(records.items(), key=lambda kv: int(kv[0]))),
    }
    write_sidecar(outdir, content)
    return chosen


def export_sparse(volume: str | Path, out: str | Path) -> Path:
    """Create an empty uint8 label store the size of ``volume`` for painting in napari.

    Values: 0 = unlabelled (napari's background), pore=1, cbd=2, nmc=3 (stated in its
    attributes ``phases``/``unlabelled``, so it reads back as a label source as it is).
    One chunk per slice; no chunk is written until painted.
    """
    vol = open_volume(volume)
    if vol.ndim != 3:
        raise InputError(f"{volume}: expected a (z, y, x) volume, got shape {vol.shape}")
    if Path(out).exists():
        raise InputError(f"{out}: exists; not overwritten (painted labels are yours)")
    with atomic_output(out) as tmp:
        arr = zarr.create_array(store=str(tmp), shape=vol.shape, dtype=np.uint8,
                                chunks=(1, *vol.shape[1:]), fill_value=0, zarr_format=3)
        arr.attrs.update({"schema": SIDECAR_SCHEMA, "phases": dict(NAPARI_PHASES),
                          "unlabelled": 0, "volume": str(volume),
                          "volume_shape": [int(s) for s in vol.shape]})
    return Path(out)
