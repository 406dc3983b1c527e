"""The workflow's steps as plain functions: one per Snakemake rule, path in, path out.

Each step reads its input store(s), calls the stage library, and writes its output
atomically. The Snakemake scripts in ``workflow/scripts`` call exactly one of these;
anyone can call them without Snakemake.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from tomosnake.errors import InputError
from tomosnake.io import (
    atomic_output,
    open_volume,
    read_raw_zarr,
    volume_attrs,
    write_raw_zarr,
)
from tomosnake.io.slabs import concat_volumes, slab_range
from tomosnake.verify import input_record

log = logging.getLogger("tomosnake")
PathLike = str | os.PathLike[str]


def ingest(
    src: PathLike, out: PathLike, fmt: str = "auto", voxel_size_um: float | None = None
) -> Path:
    """Read any raw scan format and write ``raw.zarr``; ``voxel_size_um`` overrides the file's."""
    from tomosnake.io import read_scan

    scan = read_scan(src, fmt=fmt)
    if voxel_size_um:
        scan.meta["pixel_size_um"] = float(voxel_size_um)
    scan.meta["inputs"] = input_record([src])
    log.info("%s: %d projections of %s, theta %.1f..%.1f deg", src, scan.proj.shape[0],
             scan.proj.shape[1:], *np.rad2deg([scan.theta.min(), scan.theta.max()]))
    return write_raw_zarr(scan, out)


def preprocess(raw: PathLike, out: PathLike, **params: Any) -> Path:
    """Normalise, clean and centre a ``raw.zarr`` scan into ``prep.zarr`` (line integrals)."""
    from tomosnake.preprocess import prepare

    prep = prepare(read_raw_zarr(raw), **params)
    prep.meta["inputs"] = input_record([raw])
    log.info("centre %.2f px (tomopy convention)", prep.meta["center"])
    return write_raw_zarr(prep, out)


def recon_slab(
    prep: PathLike,
    out: PathLike,
    slab: int,
    n_slabs: int,
    algorithm: str = "gridrec",
    filter: str = "shepp",  # noqa: A002 - config key
    crop: int | None = None,
    device: str = "auto",
    tomopy_exact: bool = False,
    slabs: int | None = None,
) -> Path:
    """Reconstruct rows of slab ``slab`` of ``n_slabs`` from ``prep.zarr`` into a slab store.

    ``crop`` keeps the central ``crop`` x ``crop`` pixels around the rotation axis;
    ``tomopy_exact`` reproduces tomopy's gridrec to float precision (see recon.gridrec).
    ``slabs`` (the config key that sets ``n_slabs``) is accepted and ignored.
    """
    from tomosnake.recon import reconstruct_slab

    meta = zarr.open_group(store=str(prep), mode="r").attrs
    attrs = {"preprocess": meta.get("preprocess", {}), "inputs": input_record([prep])}
    return reconstruct_slab(prep, out, slab, n_slabs, crop=crop, attrs=attrs, algorithm=algorithm,
                            filter_name=filter, device=device, tomopy_exact=tomopy_exact)


def merge_slabs(
    slabs: Sequence[PathLike], out: PathLike, inputs: PathLike | Sequence[PathLike] = ()
) -> Path:
    """Join slab stores along z into one volume store.

    ``inputs`` (the path or paths the slabs were made from) are fingerprinted into
    the result; without them the slabs' own record is kept.
    """
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    return concat_volumes(slabs, out, attrs={"inputs": input_record(inputs)} if inputs else None)


def train_segmenter(
    recons: Sequence[PathLike], truths: Sequence[PathLike], out: PathLike,
    slices: Sequence[int], epochs: int | None, method: str = "cnn",
) -> Path:
    """Train the CNN (or, ``method="rf"``, the random forest) on a few ground-truth slices
    of simulated scans; ``epochs`` is used by the CNN only."""
    from tomosnake.segment import train_from_volume

    vols, labs, phases = [], [], {}
    for rpath, tpath in zip(recons, truths, strict=True):
        vol = open_volume(rpath)
        group = zarr.open_group(store=str(tpath), mode="r")
        truth, phases = group["labels"], dict(group.attrs["phases"])
        if vol.shape != truth.shape:
            raise InputError(f"{rpath}: shape {vol.shape} differs from its truth {truth.shape}; "
                             "set recon.crop to the phantom width for simulated training scans")
        ok = [z for z in slices if z < vol.shape[0]]
        vols.append(np.asarray(vol.get_orthogonal_selection((ok,))))
        labs.append(np.asarray(truth.get_orthogonal_selection((ok,))))
    train_from_volume(np.concatenate(vols), np.concatenate(labs), out, method=method,
                      epochs=epochs or 1, patch=64, ignore_value=None, phases=phases)
    return Path(out)


def segment_chunk(
    recon: PathLike, out: PathLike, slab: int, n_slabs: int, method: str = "otsu",
    model: PathLike | None = None, **_: Any,
) -> Path:
    """Segment the rows of one slab of ``recon.zarr`` into a labels slab store."""
    from tomosnake.segment import segment_volume

    nz = open_volume(recon).shape[0]
    z_range = slab_range(nz, slab, n_slabs)
    return segment_volume(recon, out, method=method, model_path=model, z_range=z_range)


def truth_check(prep: PathLike, labels: PathLike, truth: PathLike, out: PathLike) -> Path:
    """Compare a simulated scan's found centre and labels with its ground truth (JSON)."""
    truth_root = zarr.open_group(store=str(truth), mode="r")
    true_labels = truth_root["labels"][...]
    lab = open_volume(labels)
    found = lab[...]
    if found.shape != true_labels.shape:
        raise InputError(f"{labels}: shape {found.shape} differs from ground truth "
                         f"{true_labels.shape}; set recon.crop to the phantom width")
    phases = volume_attrs(lab).get("phases", truth_root.attrs["phases"])
    iou = {}
    for name, code in phases.items():
        a, b = found == code, true_labels == truth_root.attrs["phases"][name]
        union = np.logical_or(a, b).sum()
        iou[name] = float(np.logical_and(a, b).sum() / union) if union else float("nan")
    center = float(zarr.open_group(store=str(prep), mode="r").attrs["center"])
    result = {
        "center_found": center,
        "center_true": float(truth_root.attrs["center"]),
        "center_error_px": center - float(truth_root.attrs["center"]),
        "iou": iou,
        "mean_iou": float(np.nanmean(list(iou.values()))),
        "volume_fractions_true": truth_root.attrs["volume_fractions"],
        "inputs": input_record([prep, labels, truth]),
    }
    with atomic_output(out) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=2))
    return Path(out)


def morphology(labels: PathLike, out: PathLike, metrics: Sequence[str],
               voxel_size_um: float | None = None) -> Path:
    """Quantify a labels store into ``morphology.json``."""
    from tomosnake.morph import analyse_store, write_morphology_json

    result = analyse_store(labels, None, metrics=tuple(metrics), voxel_size_um=voxel_size_um)
    result["inputs"] = input_record([labels])
    return write_morphology_json(result, out)


def summary(scans: Sequence[str], morph_jsons: Sequence[PathLike],
            truth_jsons: Mapping[str, PathLike], out: PathLike) -> Path:
    """One CSV row per scan: morphology numbers and, for simulated scans, truth checks."""
    from tomosnake.morph import summary_row

    rows = []
    for scan, path in zip(scans, morph_jsons, strict=True):
        row: dict[str, Any] = {"scan_id": scan}
        row.update(summary_row(json.loads(Path(path).read_text())))
        if scan in truth_jsons:
            t = json.loads(Path(truth_jsons[scan]).read_text())
            row["truth_center_error_px"] = t["center_error_px"]
            row["truth_mean_iou"] = t["mean_iou"]
        rows.append(row)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_output(out) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return Path(out)
