"""The workflow's steps as plain functions: one per Snakemake rule, paths in, paths out.

Each step reads only what it uses, calls the stage library and writes its output
atomically. The scripts in ``workflow/scripts`` call exactly one of these; anyone can call
them without Snakemake. How a scan is cut into jobs is :mod:`tomosnake.layout`.

Per scan (``{s}`` = ``results/{scan}``)::

    flats        raw -> {s}/flats.zarr                mean dark and flat(s)
    ingest       raw, flats -> {s}/prep.parts/{b}      a block of angles: normalised line integrals
    prep_merge   parts -> {s}/prep.zarr               (linked, no copy)
    center       prep -> {s}/center.json, {s}/center_sweep.tif
    recon_slab   prep, center -> {s}/recon.parts/{i}  a slab of rows: stripes, stitching, slices
    recon_merge  parts -> {s}/scan.ome.zarr/0         level 0 of the OME-Zarr image
    segment_slab level 0 [, model] -> {s}/labels.parts/{i}
    segment_merge parts -> {s}/scan.ome.zarr/labels/phases/0, {s}/segment_qc.json
    pyramid      level 0 image and labels -> the other OME-Zarr levels and metadata
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

from tomosnake import sketch
from tomosnake.errors import InputError
from tomosnake.io import atomic_output, open_volume, volume_attrs
from tomosnake.io.chunkstore import PART_KEY, create_part, link_parts
from tomosnake.layout import plan, rows_per_slab, slab_ranges
from tomosnake.verify import input_record

log = logging.getLogger("tomosnake")
PathLike = str | os.PathLike[str]


def _json_out(data: Mapping[str, Any], out: PathLike) -> Path:
    with atomic_output(out) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=2, allow_nan=False))
    return Path(out)


# ---------------------------------------------------------------- projections ---------


def flats(src: PathLike, out: PathLike, fmt: str = "auto", no_flats: str = "error",
          no_darks: str = "error") -> Path:
    """Mean dark and flat field(s) of a raw scan -> ``flats.zarr`` (flats taken before and
    after the scan are kept apart and interpolated by :func:`ingest`)."""
    from tomosnake.io import open_scan
    from tomosnake.preprocess.pipeline import flat_field

    with open_scan(src, fmt) as reader:
        info = reader.info
        which = ("before", "after") if info.flat_position == "both" else ("all",)
        means = [reader.flat_mean(w) for w in which] if info.n_flat else []
        dark = reader.dark_mean() if info.n_dark else None
    ff = flat_field(means, dark, (info.n_rows, info.n_cols), str(src), no_flats, no_darks)
    with atomic_output(out) as tmp:
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        for name, data in [("dark", ff.dark)] + [(f"flat{i}", f) for i, f in enumerate(ff.flats)]:
            if data is not None:
                root.create_array(name, data=np.asarray(data, np.float32))
        root.attrs.update({"mode": ff.mode, "n_flats": len(ff.flats),
                           "inputs": input_record([src])})
    return Path(out)


def _load_flat_field(path: PathLike):
    from tomosnake.preprocess.pipeline import FlatField

    root = zarr.open_group(str(path), mode="r")
    n = int(root.attrs["n_flats"])
    dark = root["dark"][...] if "dark" in root.array_keys() else None
    return FlatField(root.attrs["mode"], dark, tuple(root[f"flat{i}"][...] for i in range(n)))


def ingest(
    src: PathLike,
    flats_store: PathLike,
    out: PathLike,
    block: int,
    fmt: str = "auto",
    zingers: bool = True,
    paganin: Mapping[str, Any] | None = None,
    voxel_size_um: float | None = None,
) -> Path:
    """Block ``block`` of angles of a raw scan -> normalised line integrals (a part store).

    Reads only the block's frames; flat/dark (``flats_store``), zingers, the file's alignment
    shifts, Paganin and -log are applied here, on whole frames. ``voxel_size_um`` overrides
    the file's pixel size.
    """
    from tomosnake.io import open_scan
    from tomosnake.preprocess.pipeline import normalise_block, paganin_args

    with open_scan(src, fmt) as reader:
        info = reader.info
        lay = plan(info.n_proj, info.n_rows, info.n_cols)
        if not 0 <= block < len(lay.blocks):
            raise InputError(f"{src}: block {block} outside 0..{len(lay.blocks) - 1}")
        a0, a1 = lay.blocks[block]
        counts = reader.projections(a0, a1)
        theta = reader.theta()[a0:a1]
        shifts = reader.shifts()
    meta = {"source": str(src), "format": info.format,
            "pixel_size_um": float(voxel_size_um) if voxel_size_um else info.pixel_size_um,
            "energy_kev": info.energy_kev, "distance_m": info.distance_m}
    pag = paganin_args(paganin, meta) if paganin else None
    ff = _load_flat_field(flats_store)
    data = normalise_block(counts, a0, info.n_proj, ff, zingers=zingers, paganin=pag,
                           shifts=None if shifts is None else shifts[a0:a1], where=str(src))
    meta |= {"normalisation": ff.mode, "zingers": bool(zingers), "paganin": pag,
             "alignment_shifts": shifts is not None, "theta": [float(t) for t in theta]}
    with atomic_output(out) as tmp:
        arr = create_part(tmp, info.shape, np.float32, lay.prep_chunks, a0, a1, attrs=meta)
        arr[...] = data
    return Path(out)


def prep_merge(parts: Sequence[PathLike], out: PathLike, inputs: Sequence[PathLike] = ()
               ) -> Path:
    """Join the ingest blocks into ``prep.zarr`` (``proj`` linked, ``theta``, metadata)."""
    attrs = [dict(zarr.open_array(str(p), mode="r").attrs) for p in parts]
    order = np.argsort([a[PART_KEY]["start"] for a in attrs])
    theta = np.concatenate([np.asarray(attrs[i]["theta"], np.float64) for i in order])
    meta = {k: v for k, v in attrs[order[0]].items() if k not in ("theta", PART_KEY)}
    meta["theta_first_last_deg"] = [float(np.degrees(theta[0])), float(np.degrees(theta[-1]))]
    meta["inputs"] = input_record(inputs)
    with atomic_output(out) as tmp:
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        root.create_array("theta", data=theta)
        root.attrs.update(meta)
        link_parts(parts, Path(tmp) / "proj", dimension_names=("angle", "z", "x"))
    return Path(out)


# ---------------------------------------------------------------- centre --------------


def center(prep: PathLike, out: PathLike, sweep_out: PathLike, rings: str = "sort",
           center: float | str = "auto", center_method: str = "auto",
           center_tolerance_px: float = 0.5, half_acquisition: bool | str = "auto",
           tilt: str = "auto", center_sweep: Sequence[float] | str | None = "auto",
           frc: bool = True,
           device: str = "auto") -> Path:
    """Rotation centre of a prepared scan -> ``center.json`` and the sweep TIFF.

    Reads a few bands of rows (``center_rows``), removes their stripes and runs the centre
    analysis: methods at several heights, their agreement, the tilt fit, the sweep of
    ``center_sweep`` = (start, stop, step) centres (labelled slices) and the FRC resolution.
    """
    from tomosnake.preprocess.centering import analyse_center, center_rows
    from tomosnake.preprocess.pipeline import clean_rows
    from tomosnake.recon.slabs import open_prepared, read_rows
    from tomosnake.recon.sweep import write_sweep_tiff

    proj, theta, attrs = open_prepared(prep)
    nz = proj.shape[1]
    rows = sorted(set(center_rows(nz)))
    sinos = {}
    for z in rows:
        band = clean_rows(read_rows(proj, z, z + 1, f"{prep}/proj"), rings)[0]
        sinos[z] = band[:, 0, :]
    report = analyse_center(sinos, theta, nz, center=center, method=center_method,
                            tolerance_px=center_tolerance_px, half_acquisition=half_acquisition,
                            tilt=tilt, sweep=center_sweep, frc=frc, device=device,
                            pixel_size_um=attrs.get("pixel_size_um"))
    images = report.pop("_sweep_images", None)
    if report.get("sweep"):
        report["sweep"]["tiff"] = Path(sweep_out).name
    write_sweep_tiff(sweep_out, np.zeros((0, 1, 1), np.float32) if images is None else images,
                     report["sweep"]["centers"] if report.get("sweep") else [])
    report["inputs"] = attrs.get("inputs", {})  # the raw scan's: prep.zarr is temporary
    return _json_out(report, out)


# ---------------------------------------------------------------- reconstruction ------


def recon_slab(
    prep: PathLike,
    center_json: PathLike,
    out: PathLike,
    slab: int,
    slab_rows: int = 64,
    slabs: int | None = None,
    rings: str = "sort",
    algorithm: str = "gridrec",
    filter: str = "shepp",  # noqa: A002 - config key
    crop: int | None = None,
    device: str = "auto",
    tomopy_exact: bool = False,
    **_: Any,
) -> Path:
    """Slab ``slab`` of rows of a prepared scan -> reconstructed slices (a part store).

    Stripe removal, half-acquisition stitching and reconstruction with the centre of each
    row from ``center_json``. The part records its stripe metrics and grey-value sketch.
    """
    from tomosnake.preprocess.pipeline import clean_rows, row_centers, stitch_rows
    from tomosnake.recon.slabs import open_prepared, read_rows, recon_attrs, reconstruct_rows

    proj, theta, attrs = open_prepared(prep)
    _, nz, n_det = proj.shape
    spans = slab_ranges(nz, rows_per_slab(nz, slab_rows, slabs))
    if not 0 <= slab < len(spans):
        raise InputError(f"{prep}: slab {slab} outside 0..{len(spans) - 1}")
    z0, z1 = spans[slab]
    cj = json.loads(Path(center_json).read_text())
    rows, before, after = clean_rows(read_rows(proj, z0, z1, f"{prep}/proj"), rings)
    centers = row_centers(cj, z0, z1)
    if cj["half_acquisition"]:
        rows, theta, centers = stitch_rows(rows, theta, centers, cj["stitched_width"])
    params = {"algorithm": algorithm, "filter_name": filter, "device": device,
              "tomopy_exact": tomopy_exact}
    rec = reconstruct_rows(rows, theta, centers, crop, **params)
    n = rec.shape[-1]
    meta = recon_attrs(attrs, theta, cj["center"], params) | {
        "crop": crop, "detector_width": n_det, "ring_metric_before": [float(x) for x in before],
        "ring_metric_after": [float(x) for x in after], "sketch": sketch.sketch(rec),
        "preprocess": {k: attrs.get(k) for k in ("normalisation", "zingers", "paganin",
                                                  "alignment_shifts")}
        | {"rings": rings, "center_method": cj["used"]["method"],
           "half_acquisition": cj["half_acquisition"]},
        "inputs": attrs.get("inputs", {})}
    lay_chunks = (min(4, nz), min(512, n), min(512, n))
    with atomic_output(out) as tmp:
        arr = create_part(tmp, (nz, n, n), np.float32, lay_chunks, z0, z1, attrs=meta)
        arr[...] = rec
    return Path(out)


def recon_merge(parts: Sequence[PathLike], out: PathLike, center_json: PathLike) -> Path:
    """Join reconstructed slabs into level 0 of the scan's OME-Zarr image (linked).

    Merges the slabs' stripe metrics and grey-value sketches. Records as inputs the raw
    scan's fingerprint (prep.zarr is temporary) and the centre's.
    """
    slab_attrs = [dict(zarr.open_array(str(p), mode="r").attrs) for p in parts]
    before = [x for a in slab_attrs for x in a["ring_metric_before"]]
    after = [x for a in slab_attrs for x in a["ring_metric_after"]]
    merged = {
        "sketch": sketch.merge([a["sketch"] for a in slab_attrs]),
        "ring_metric_before": float(np.mean(before)),
        "ring_metric_after": float(np.mean(after)),
        "inputs": slab_attrs[0]["inputs"] | input_record([center_json]),
    }
    return link_parts(parts, out, attrs=merged, dimension_names=("z", "y", "x"))


# ---------------------------------------------------------------- segmentation -------


def train_segmenter(
    out: PathLike,
    labelled: Sequence[tuple[PathLike, PathLike]] = (),
    simulated: Sequence[tuple[PathLike, PathLike]] = (),
    *,
    train_slices: Sequence[int] = (),
    method: str = "cnn",
    label_phases: Mapping[str, int] | None = None,
    label_unlabelled: int | None = None,
    **settings: Any,
) -> Path:
    """Train a group's CNN (or, ``method="rf"``, random forest) on the hand-labelled slices
    of its scans and the ground-truth slices ``train_slices`` of its simulated scans.

    ``labelled``: (reconstruction level 0, label source) pairs; ``simulated``:
    (reconstruction level 0, ``NAME_truth.zarr``) pairs. ``settings``: the training keys of
    the ``segment`` section (:data:`tomosnake.segment.train.TRAIN_KEYS`).
    """
    from tomosnake.segment import train_from_labels

    train_from_labels(out, [tuple(p) for p in labelled], [tuple(p) for p in simulated],
                      truth_slices=train_slices, label_phases=dict(label_phases or {}) or None,
                      unlabelled=label_unlabelled, method=method, **settings)
    return Path(out)


def segment_slab(
    recon: PathLike, out: PathLike, slab: int, slab_rows: int = 64, slabs: int | None = None,
    method: str = "otsu", model: PathLike | None = None, tta: bool = False,
    low_confidence: float | None = None, **_: Any,
) -> Path:
    """Segment slab ``slab`` of rows of a reconstruction into a labels part store (with the
    per-slice confidence of a cnn/rf model in its attributes). Reads the slab and its
    model's context rows only: the normalisation comes from the volume's grey-value sketch."""
    from tomosnake.layout import PLANE_CHUNK, ROW_CHUNK
    from tomosnake.segment import segment_volume
    from tomosnake.segment.qc import LOW_CONFIDENCE

    vol = open_volume(recon)
    nz = vol.shape[0]
    spans = slab_ranges(nz, rows_per_slab(nz, slab_rows, slabs))
    if not 0 <= slab < len(spans):
        raise InputError(f"{recon}: slab {slab} outside 0..{len(spans) - 1}")
    z0, z1 = spans[slab]
    segment_volume(recon, out, method=method, model_path=model, z_range=(z0, z1),
                   chunk_z=ROW_CHUNK, chunk_yx=PLANE_CHUNK, tta=tta,
                   low_confidence=LOW_CONFIDENCE if low_confidence is None else low_confidence)
    arr = zarr.open_array(str(out), mode="r+")
    arr.attrs[PART_KEY] = {"axis": 0, "start": z0, "stop": z1, "shape": [nz, *vol.shape[1:]]}
    return Path(out)


def segment_merge(parts: Sequence[PathLike], out: PathLike, qc_out: PathLike,
                  inputs: Sequence[PathLike] = (), suggest: int | None = None) -> Path:
    """Join labels slabs into the OME-Zarr label image's level 0 and write
    ``segment_qc.json``: per-slice confidence, the slices to label next (``suggest``), the
    model's hash, the scan's labelled slices and warnings (labels painted on slices that
    have changed since)."""
    from tomosnake.segment.qc import N_SUGGEST, read_slice_summaries, write_segment_qc

    first = dict(zarr.open_array(str(parts[0]), mode="r").attrs)
    write_segment_qc(qc_out, parts, recon=first.get("source"),
                     n_suggest=N_SUGGEST if suggest is None else suggest)
    link_parts(parts, out, attrs={"inputs": input_record(inputs), "z_range": None,
                                  "slice_confidence": read_slice_summaries(parts)},
               dimension_names=("z", "y", "x"))
    return Path(out)


def truth_check(center_json: PathLike, labels: PathLike, truth: PathLike, out: PathLike) -> Path:
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
    cj = json.loads(Path(center_json).read_text())
    found_c = float(cj["center_input_detector"])
    result = {
        "center_found": found_c,
        "center_true": float(truth_root.attrs["center"]),
        "center_error_px": found_c - float(truth_root.attrs["center"]),
        "iou": iou,
        "mean_iou": float(np.nanmean(list(iou.values()))),
        "volume_fractions_true": truth_root.attrs["volume_fractions"],
        "inputs": input_record([center_json, labels, truth]),
    }
    return _json_out(result, out)


# ---------------------------------------------------------------- quantification ------


def morphology(labels: PathLike, out: PathLike, **settings: Any) -> Path:
    """Quantify a labels store into ``morphology.json``, inside the sample region.

    ``settings``: the scan's ``morph`` section; the voxel size comes from the store (the
    raw file's, or the scan sheet's ``voxel_size_um``).
    """
    from tomosnake.morph import analyse_store, write_morphology_json
    from tomosnake.threads import current

    result = analyse_store(labels, None, settings, threads=current())
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


# ---------------------------------------------------------------- visualisation -------


def pyramid_level(src: PathLike, out: PathLike, labels: bool = False) -> Path:
    """The next OME-Zarr pyramid level of the image or labels level ``src``."""
    from tomosnake.viz.omezarr import write_level

    return write_level(src, out, labels=labels)


def ome_metadata(root: PathLike, levels: int) -> Path:
    """The OME-Zarr group documents, once levels 0..levels-1 exist."""
    from tomosnake.viz.omezarr import write_metadata

    return write_metadata(root, levels)


def figures(recon: PathLike, labels: PathLike, out: PathLike, center: PathLike,
            sweep: PathLike, morphology: PathLike, segment_qc: PathLike) -> Path:
    """Orthoslices with labels and sample outline, distributions, QC plots of one scan."""
    from tomosnake.viz import scan_figures

    scan_figures(recon, labels, out, center_json=center, sweep_tiff=sweep,
                 morphology_json=morphology, segment_qc_json=segment_qc)
    return Path(out)


def meshes(labels: PathLike, out: PathLike, mesh_max_mib: float = 128,
           preview_max_mib: float = 1.5) -> Path:
    """One surface mesh per phase (PLY) within a size budget, and the report's preview."""
    from tomosnake.viz import export_meshes

    export_meshes(labels, out, max_bytes=int(mesh_max_mib * 2**20),
                  preview_max_bytes=int(preview_max_mib * 2**20))
    return Path(out)


def report(out: PathLike, scans: Sequence[str], files: Mapping[str, Sequence[PathLike]],
           simulated: Sequence[str], sheet_rows: Mapping[str, Mapping[str, Any]],
           settings: Mapping[str, Mapping[str, Any]], summary_csv: PathLike,
           config_file: PathLike, sheet_file: PathLike, benchmarks_dir: PathLike,
           options: Mapping[str, Any]) -> Path:
    """The beamtime's HTML report from exactly the given files.

    ``files``: per kind (morphology, center, segment_qc, figures, meshes, ome), one path
    per scan in ``scans`` order; ``truth`` one per scan of ``simulated``. ``options``: the
    ``report`` settings (title, series, qc, viewer_max_mib).
    """
    from tomosnake.provenance import collect_provenance
    from tomosnake.viz import ScanInputs, build_report

    truth = dict(zip(simulated, files["truth"], strict=True))
    bench = Path(benchmarks_dir)
    entries = [
        ScanInputs(
            scan_id=scan, morphology_json=files["morphology"][i], sheet_row=sheet_rows[scan],
            settings=settings[scan], center_json=files["center"][i],
            segment_qc_json=files["segment_qc"][i], truth_check_json=truth.get(scan),
            figures_dir=files["figures"][i], meshes_dir=files["meshes"][i],
            ome_zarr=Path(files["ome"][i]).parent,
            benchmarks=sorted([*bench.glob(f"*/{scan}.tsv"), *bench.glob(f"*/{scan}.*.tsv")]),
        )
        for i, scan in enumerate(scans)
    ]
    return build_report(out, entries, summary_csv=summary_csv,
                        provenance=collect_provenance(config_file, sheet_file, bench),
                        series=options["series"], title=options["title"] or "tomosnake report",
                        qc=options["qc"], viewer_budget=int(options["viewer_max_mib"] * 2**20))
