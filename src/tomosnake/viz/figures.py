"""Per-scan figures, print-ready, each written as PNG (300 dpi) and SVG (text kept as text).

Volume figures: orthoslices with scale bar and the sample-region outline (grey, and with
the label overlay), grey-value histogram per phase, phase fractions along z, rendered
phase surfaces. Record figures (when their record is given): size distributions
(``morphology.json``), centre per method and row, centre sweep contact sheet and
sharpness, Fourier ring correlation (``center.json``, ``center_sweep.tif``),
segmentation confidence per slice (``segment_qc.json``).

Volumes are (z, y, x) and may be large zarr arrays or a level of an OME-Zarr pyramid:
only the three displayed planes (strided to at most :data:`MAX_SIDE` pixels), a few
sampled planes and strided z-slabs are read, so memory is bounded whatever the size.
``figures.json`` lists every figure (name, kind ``plot`` or ``image``, caption, files).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tifffile  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar  # noqa: E402

from tomosnake.errors import InputError  # noqa: E402
from tomosnake.io import atomic_output  # noqa: E402
from tomosnake.morph.sample import sample_mask  # noqa: E402
from tomosnake.viz import plots  # noqa: E402
from tomosnake.viz.inputs import (  # noqa: E402
    open_level,
    parse_phases,
    positive,
    sample_planes,
)
from tomosnake.viz.meshes import surfaces_figure  # noqa: E402
from tomosnake.viz.morphology import read_json, read_morphology  # noqa: E402
from tomosnake.viz.qc import fractions_along_z, scan_qc  # noqa: E402
from tomosnake.viz.style import (  # noqa: E402
    DOUBLE,
    SINGLE,
    figure_title,
    label_axes,
    phase_color,
    print_style,
    save_figure,
)

VIEWS = ("xy", "xz", "yz")
#: longest displayed side of an orthoslice (pixels); larger planes are strided
MAX_SIDE = 1024
#: thinnest displayed height / width of a plane; thinner planes are stretched vertically
MIN_ASPECT = 0.25
#: most slices shown on the centre sweep contact sheet
SWEEP_PANELS = 12
#: schema of figures.json
MANIFEST_SCHEMA = "tomosnake.figures/1"


def nice_length(span: float) -> float:
    """A round length (1, 2 or 5 x 10^k) close to a fifth of ``span``."""
    target = span / 5
    if target <= 0:
        return 1.0
    exp = np.floor(np.log10(target))
    return float(min((1, 2, 5, 10), key=lambda m: abs(m * 10**exp - target)) * 10**exp)


def add_scale_bar(ax: plt.Axes, width_px: int, height_px: int, unit_per_px: float | None) -> None:
    """A horizontal scale bar in micrometres (pixels when the voxel size is unknown)."""
    per_px = unit_per_px or 1.0
    length = nice_length(width_px * per_px)
    label = f"{length:g} µm" if unit_per_px else f"{length:g} px"
    bar = AnchoredSizeBar(
        ax.transData, length / per_px, label, "lower right", pad=0.3, color="white",
        frameon=False, size_vertical=max(height_px * 0.015, 0.5), fontproperties={"size": 7},
    )
    outline = [patheffects.withStroke(linewidth=1.5, foreground="black")]
    bar.txt_label.get_children()[0].set_path_effects(outline)
    for rect in bar.size_bar.get_children():
        rect.set_path_effects(outline)
    ax.add_artist(bar)


def plane_step(shape: tuple[int, ...]) -> int:
    """Stride that keeps every orthoslice of a volume of ``shape`` within :data:`MAX_SIDE`."""
    return max(1, int(np.ceil(max(shape) / MAX_SIDE)))


def orthoslices(
    vol: Any, center: tuple[int, int, int] | None = None, step: int = 1
) -> dict[str, np.ndarray]:
    """The xy (z = cz), xz (y = cy), yz (x = cx) planes through ``center``, strided by ``step``."""
    cz, cy, cx = center or tuple(s // 2 for s in vol.shape)
    return {
        "xy": np.asarray(vol[cz, ::step, ::step]),
        "xz": np.asarray(vol[::step, cy, ::step]),
        "yz": np.asarray(vol[::step, ::step, cx]),
    }


def grey_window(recon: Any) -> tuple[float, float]:
    """Display window: 0.5th and 99.5th percentiles of a few sampled z-planes."""
    sample = sample_planes(recon, 8)
    finite = sample[np.isfinite(sample)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [0.5, 99.5])
    return float(lo), float(hi if hi > lo else lo + 1)


def sample_box(sample: Mapping[str, Any] | None, record_shape: Any, shape: tuple[int, ...]):
    """The sample region's (z, y, x) bounds in voxels of ``shape``, or None for the whole volume.

    ``bbox_zyx`` of the morphology record is in voxels of the record's ``shape`` (the
    full-resolution labels); it is scaled to ``shape`` (a pyramid level).
    """
    if not sample or sample.get("mode") in (None, "none") or not sample.get("bbox_zyx"):
        return None
    full = record_shape or shape
    scale = [s / f for s, f in zip(shape, full, strict=True)]
    return [(b[0] * f, b[1] * f) for b, f in zip(sample["bbox_zyx"], scale, strict=True)]


def box_plane_masks(
    box: list[tuple[float, float]], center: tuple[int, int, int], shape: tuple[int, ...], step: int
) -> dict[str, np.ndarray]:
    """Mask of a (z, y, x) box on each displayed orthoslice (strided like the slices)."""
    coords = [np.arange(0, n, step) + 0.5 for n in shape]  # voxel centres of displayed pixels
    inside = [(c >= b[0]) & (c < b[1]) for c, b in zip(coords, box, strict=True)]
    at = [box[a][0] <= center[a] + 0.5 < box[a][1] for a in range(3)]
    z, y, x = inside
    return {
        "xy": np.outer(y, x) & at[0],
        "xz": np.outer(z, x) & at[1],
        "yz": np.outer(z, y) & at[2],
    }


def sample_plane_masks(
    sample: Mapping[str, Any] | None,
    record_shape: Any,
    shape: tuple[int, ...],
    center: tuple[int, int, int],
    step: int,
) -> dict[str, np.ndarray] | None:
    """The sample region on each displayed orthoslice, or None when it is the whole volume.

    The xy plane is exact (:func:`tomosnake.morph.sample.sample_mask` of the record at
    full resolution, sampled at the displayed pixels); xz and yz show the region's
    bounding box (exact for boxes, and for cylinders through their axis).
    """
    box = sample_box(sample, record_shape, shape)
    if box is None:
        return None
    masks = box_plane_masks(box, center, shape, step)
    full = [int(n) for n in (record_shape or shape)]
    scale = [s / f for s, f in zip(shape, full, strict=True)]
    z_full = min(int((center[0] + 0.5) / scale[0]), full[0] - 1)
    plane = sample_mask(np.broadcast_to(np.False_, (1, full[1], full[2])), sample, z0=z_full)[0]
    ys, xs = (
        np.minimum(((np.arange(0, n, step) + 0.5) / f).astype(int), m - 1)
        for n, f, m in ((shape[1], scale[1], full[1]), (shape[2], scale[2], full[2]))
    )
    masks["xy"] = plane[np.ix_(ys, xs)]
    return masks


def _label_cmap(phases: Mapping[str, int]) -> tuple[ListedColormap, int]:
    top = max(phases.values()) + 1
    colors = np.zeros((top, 4))
    for i, (name, code) in enumerate(phases.items()):
        colors[code] = (*phase_color(name, i), 1.0)
    return ListedColormap(colors), top


def ortho_figure(
    recon: Any,
    labels: Any | None,
    phases: Mapping[str, int],
    voxel_um: float | None,
    sample: Mapping[str, Any] | None = None,
    record_shape: Any = None,
    alpha: float = 0.45,
) -> plt.Figure:
    """xy, xz, yz planes through the middle with scale bar, label overlay and the outline
    of the morphology record's ``sample`` region (``record_shape``: the record's shape)."""
    shape = tuple(recon.shape)
    center = tuple(s // 2 for s in shape)
    step = plane_step(shape)
    planes = orthoslices(recon, center, step)
    lab_planes = orthoslices(labels, center, step) if labels is not None else None
    masks = sample_plane_masks(sample, record_shape, shape, center, step)
    vmin, vmax = grey_window(recon)
    names = {"xy": ("z", 0), "xz": ("y", 1), "yz": ("x", 2)}
    outlined = False
    with print_style():
        fig, axes = plt.subplots(1, 3, figsize=(DOUBLE, 2.9), layout="constrained")
        for ax, view in zip(axes, VIEWS, strict=True):
            fixed, axis = names[view]
            h, w = planes[view].shape
            stretch = max(1.0, MIN_ASPECT * w / h)  # thin slabs: stretch to stay visible
            ax.imshow(planes[view], cmap="gray", vmin=vmin, vmax=vmax,
                      interpolation="nearest", aspect=stretch)
            if lab_planes is not None:
                cmap, top = _label_cmap(phases)
                ax.imshow(lab_planes[view], cmap=cmap, vmin=-0.5, vmax=top - 0.5, alpha=alpha,
                          interpolation="nearest", aspect=stretch)
            if masks is not None and masks[view].any() and not masks[view].all():
                padded = np.pad(masks[view].astype(float), 1)
                ax.contour(np.arange(-1, w + 1), np.arange(-1, h + 1), padded, levels=[0.5],
                           colors="white", linewidths=0.9, linestyles="--")
                outlined = True
            add_scale_bar(ax, w, h, voxel_um * step if voxel_um else None)
            pos = center[axis]
            where = f"{fixed} = {pos * voxel_um:.4g} µm" if voxel_um else f"{fixed} = {pos}"
            extra = f", stretched ×{stretch:.2g} in height" if stretch > 1 else ""
            ax.set_title(f"{view} plane, {where}{extra}")
            ax.set_axis_off()
        handles = []
        if lab_planes is not None:
            handles = [
                Patch(color=phase_color(n, i), alpha=0.8, label=n) for i, n in enumerate(phases)
            ]
        if outlined:
            handles.append(Line2D([], [], color="black", ls="--", lw=0.9, label="sample region"))
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncol=len(handles))
        figure_title(fig, "segmentation over the reconstruction" if labels is not None
                     else "reconstruction")
    return fig


def class_boundaries(
    hists: Mapping[str, np.ndarray], centres: np.ndarray, means: Mapping[str, float]
) -> list[tuple[str, float]]:
    """Grey value where neighbouring phases' histograms cross (the decision boundary).

    Phases are ordered by mean grey value; for each neighbouring pair the first bin
    between their means where the brighter phase's count overtakes the darker one's.
    """
    order = sorted((n for n in hists if n in means), key=means.get)
    out = []
    for a, b in zip(order, order[1:], strict=False):
        inside = (centres >= means[a]) & (centres <= means[b])
        diff = (hists[b] - hists[a])[inside]
        if diff.size:
            k = int(np.argmax(diff >= 0)) if (diff >= 0).any() else diff.size - 1
            out.append((f"{a}/{b}", float(centres[inside][k])))
    return out


def histogram_figure(
    recon: Any, labels: Any | None, phases: Mapping[str, int], thresholds: list[float]
) -> plt.Figure:
    """Grey-value histogram of sampled planes, per phase, with class boundaries."""
    grey = sample_planes(recon, 12).astype(np.float64)
    finite = np.isfinite(grey)
    lo, hi = np.percentile(grey[finite], [0.1, 99.9]) if finite.any() else (0.0, 1.0)
    edges = np.linspace(lo, hi if hi > lo else lo + 1, 151)
    centres = (edges[:-1] + edges[1:]) / 2
    with print_style():
        fig, ax = plt.subplots(figsize=(SINGLE, 2.6), layout="constrained")
        total, _ = np.histogram(grey[finite], edges)
        ax.stairs(total, edges, color="0.3", lw=0.8, label="all voxels")
        if labels is not None:
            lab = sample_planes(labels, 12)
            hists, means = {}, {}
            for i, (name, code) in enumerate(phases.items()):
                sel = (lab == code) & finite
                if not sel.any():
                    continue
                hists[name], _ = np.histogram(grey[sel], edges)
                means[name] = float(grey[sel].mean())
                ax.stairs(hists[name], edges, fill=True, alpha=0.5, color=phase_color(name, i),
                          label=name)
            for _, value in class_boundaries(hists, centres, means):
                ax.axvline(value, color="black", ls=":", lw=0.8)
        for i, value in enumerate(thresholds):
            ax.axvline(value, color="black", ls="--", lw=0.9, label="threshold" if not i else None)
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.8)
        handles, labels_ = ax.get_legend_handles_labels()
        fig.legend(handles, labels_, loc="outside lower center", ncol=min(len(handles), 4))
        label_axes(ax, "grey values per phase", "grey value (attenuation per voxel)",
                   "number of voxels (sampled planes)")
    return fig


def fractions_z_figure(labels: Any, phases: Mapping[str, int], voxel_um: float | None):
    """Volume fraction of each phase in every z-plane."""
    fractions = fractions_along_z(labels, phases)
    z = np.arange(labels.shape[0]) * (voxel_um or 1.0)
    with print_style():
        fig, ax = plt.subplots(figsize=(SINGLE, 2.4), layout="constrained")
        for i, (name, frac) in enumerate(fractions.items()):
            ax.plot(z, frac, color=phase_color(name, i), label=f"{name} (mean {frac.mean():.2f})")
        ax.set_ylim(0, 1)
        ax.legend(loc="best")
        label_axes(ax, "phase fractions along z", "z (µm)" if voxel_um else "z (voxel)",
                   "volume fraction")
    return fig


def _sweep_pages(path: Path, center: Mapping[str, Any] | None) -> list[tuple[int, float | None]]:
    """(page index, centre) of the sweep TIFF's pages (centres from the page descriptions)."""
    centers_json = ((center or {}).get("sweep") or {}).get("centers") or []
    out = []
    with tifffile.TiffFile(path) as tif:
        for i, page in enumerate(tif.pages):
            try:
                c = float(json.loads(page.description)["center"])
            except (ValueError, KeyError, TypeError):
                c = float(centers_json[i]) if i < len(centers_json) else None
            out.append((i, c))
    return out


def sweep_figure(path: str | os.PathLike[str], center: Mapping[str, Any] | None) -> plt.Figure:
    """Contact sheet of the centre sweep: one reconstructed slice per trial centre, labelled.

    Pages are read one at a time and strided to at most 256 pixels; the best centre
    (``center.json`` sweep ``best_center``) is framed.
    """
    path = Path(path)
    try:
        pages = _sweep_pages(path, center)
    except (OSError, ValueError, tifffile.TiffFileError) as exc:
        raise InputError(f"{path}: not a readable centre sweep TIFF ({exc})") from exc
    if not pages:
        raise InputError(f"{path}: the centre sweep TIFF has no pages")
    best = ((center or {}).get("sweep") or {}).get("best_center")
    pick = np.unique(np.linspace(0, len(pages) - 1, min(SWEEP_PANELS, len(pages))).round())
    chosen = [pages[int(i)] for i in pick]
    if best is not None and all(c != best for _, c in chosen):
        near = min(pages, key=lambda p: abs((p[1] if p[1] is not None else np.inf) - best))
        chosen[min(range(len(chosen)), key=lambda k: abs((chosen[k][1] or 0) - best))] = near
    cols = min(4, len(chosen))
    rows = -(-len(chosen) // cols)
    with tifffile.TiffFile(path) as tif, print_style():
        first = tif.pages[chosen[len(chosen) // 2][0]].asarray()
        step = max(1, int(np.ceil(max(first.shape) / 256)))
        finite = first[::step, ::step][np.isfinite(first[::step, ::step])]
        vmin, vmax = np.percentile(finite, [1, 99]) if finite.size else (0, 1)
        fig, axes = plt.subplots(rows, cols, figsize=(DOUBLE, DOUBLE / cols * rows + 0.4),
                                 layout="constrained", squeeze=False)
        for ax in axes.flat:
            ax.set_axis_off()
        for ax, (i, c) in zip(axes.flat, chosen, strict=False):
            ax.imshow(tif.pages[i].asarray()[::step, ::step], cmap="gray", vmin=vmin, vmax=vmax)
            is_best = best is not None and c is not None and abs(c - best) < 1e-6
            ax.set_title(("best: " if is_best else "") + (f"centre {c:.2f} px" if c is not None
                                                          else f"page {i}"),
                         fontweight="bold" if is_best else "normal")
            if is_best:
                ax.set_axis_on()
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(True)
                    spine.set_linewidth(2.5)
        row = ((center or {}).get("sweep") or {}).get("row")
        figure_title(fig, "centre sweep" + (f" on detector row {row}" if row is not None else ""))
    return fig


def scan_figures(
    recon_path: str | os.PathLike[str] | Any,
    labels_path: str | os.PathLike[str] | Any | None,
    out_dir: str | os.PathLike[str],
    *,
    center_json: str | os.PathLike[str] | None = None,
    sweep_tiff: str | os.PathLike[str] | None = None,
    morphology_json: str | os.PathLike[str] | None = None,
    segment_qc_json: str | os.PathLike[str] | None = None,
    voxel_size_um: float | None = None,
) -> dict[str, str]:
    """Write a scan's figures (``NAME.png`` + ``NAME.svg``), ``qc.json`` and ``figures.json``.

    ``recon_path``/``labels_path``: (z, y, x) volumes (zarr store, OME-Zarr level path, TIFF
    or array; labels may be None). ``voxel_size_um`` overrides the volumes' attribute
    (pass the level's voxel size for a pyramid level without attributes). The JSON and
    TIFF records are optional: each adds its figures. Returns figure name -> PNG file
    name (relative to ``out_dir``), plus ``qc_json`` and ``manifest``.
    """
    recon, recon_attrs, recon_name = open_level(recon_path, "reconstruction")
    labels, label_attrs, labels_name = (
        open_level(labels_path, "labels") if labels_path is not None else (None, {}, "")
    )
    if labels is not None and tuple(recon.shape) != tuple(labels.shape):
        raise InputError(
            f"{labels_name}: labels have shape {tuple(labels.shape)} but the reconstruction "
            f"{recon_name} has {tuple(recon.shape)}; they must match voxel for voxel"
        )
    morph = read_morphology(morphology_json) if morphology_json else None
    center = read_json(center_json, "centre record") if center_json else None
    seg = read_json(segment_qc_json, "segmentation QC record") if segment_qc_json else None
    voxel = positive(voxel_size_um) or positive(recon_attrs.get("voxel_size_um")) or positive(
        label_attrs.get("voxel_size_um")
    )
    phases = parse_phases(label_attrs, labels_name) if labels is not None else {}
    sample, record_shape = (morph or {}).get("sample"), (morph or {}).get("shape")
    thresholds = label_attrs.get("thresholds")
    thresholds = [float(t) for t in np.atleast_1d(thresholds)] if thresholds is not None else []

    made: list[tuple[str, str, str, Any]] = [  # (name, kind, caption, figure maker)
        ("orthoslices", "image", "Orthogonal slices through the middle of the reconstruction; "
         "scale bar in µm, dashed: sample region.",
         lambda: ortho_figure(recon, None, phases, voxel, sample, record_shape)),
        ("histogram", "plot", "Grey values of sampled z-planes, per phase (log scale); dotted: "
         "where neighbouring phases' histograms cross.",
         lambda: histogram_figure(recon, labels, phases, thresholds)),
    ]
    if labels is not None:
        made += [
            ("orthoslices_labels", "image", "The segmentation over the same slices, one colour "
             "per phase; dashed: sample region where the metrics are computed.",
             lambda: ortho_figure(recon, labels, phases, voxel, sample, record_shape)),
            ("fractions_z", "plot", "Volume fraction of each phase in every z-plane.",
             lambda: fractions_z_figure(labels, phases, voxel)),
            ("surfaces_3d", "image", "Phase surfaces (marching cubes on a coarse copy of the "
             "labels), one panel per phase.",
             lambda: surfaces_figure(labels, phases, voxel)),
        ]
    if morph is not None:
        made.append(("sizes", "plot", "Cumulative size distributions: local thickness (volume-"
                     "weighted, every phase) and separated particle diameters (number-"
                     "weighted); dots: medians.", lambda: plots.size_distribution_figure(morph)))
    if center is not None:
        made += [
            ("center", "plot", "Rotation centre found by each method at each detector row, and "
             "the centre used.", lambda: plots.center_figure(center)),
            ("center_sharpness", "plot", "Image metric of the centre sweep against the trial "
             "centre.", lambda: plots.sharpness_figure(center)),
            ("frc", "plot", "Fourier ring correlation of reconstructions from two halves of the "
             "projections; the resolution is where it falls below the threshold.",
             lambda: plots.frc_figure(center)),
        ]
    if sweep_tiff is not None and Path(sweep_tiff).exists():
        made.append(("center_sweep", "image", "Contact sheet of the centre sweep: the same slice "
                     "reconstructed with each trial centre; the framed one is the best.",
                     lambda: sweep_figure(sweep_tiff, center)))
    if seg is not None:
        made.append(("confidence", "plot", "Segmentation confidence per slice (mean maximum "
                     "class probability) and fraction of low-confidence voxels; dashed: "
                     "slices suggested for labelling next.", lambda: plots.confidence_figure(seg)))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    manifest = []
    for name, kind, caption, make in made:
        fig = make()
        if fig is None:
            continue
        width = float(fig.get_size_inches()[0])
        png, svg = save_figure(fig, out / name)
        written[name] = png.name
        manifest.append({"name": name, "kind": kind, "caption": caption, "png": png.name,
                         "svg": svg.name, "width_in": width})
    numbers = scan_qc(recon, labels, recon_attrs, phases or None)
    with atomic_output(out / "qc.json") as tmp:
        tmp.write_text(json.dumps(numbers, indent=1, default=float))
    written["qc_json"] = "qc.json"
    with atomic_output(out / "figures.json") as tmp:
        tmp.write_text(json.dumps({"schema": MANIFEST_SCHEMA, "figures": manifest}, indent=1))
    written["manifest"] = "figures.json"
    return written
