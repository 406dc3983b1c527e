"""Per-scan figures (matplotlib Agg, PNG): orthoslices with a scale bar, label overlays,
grey-value histograms per phase, phase fractions along z, QC panel and a 3-D surface render.

Volumes are (z, y, x); the scale bar is in micrometres from ``voxel_size_um``.
Only single planes and a few sampled planes are read, so any volume size works.
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
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar  # noqa: E402

from tomosnake.io import atomic_output, volume_attrs  # noqa: E402
from tomosnake.viz.inputs import (  # noqa: E402
    check_same_shape,
    open_3d,
    phase_color,
    phases_of,
    sample_planes,
    voxel_size_um,
)
from tomosnake.viz.meshes import render_surfaces  # noqa: E402
from tomosnake.viz.qc import fractions_along_z, scan_qc  # noqa: E402

VIEWS = ("xy", "xz", "yz")
#: thinnest displayed height / width of a plane; thinner planes are stretched vertically
MIN_ASPECT = 0.25


def nice_length(span: float) -> float:
    """A round length (1, 2 or 5 x 10^k) close to a fifth of ``span``."""
    target = span / 5
    if target <= 0:
        return 1.0
    exp = np.floor(np.log10(target))
    return float(min((1, 2, 5, 10), key=lambda m: abs(m * 10**exp - target)) * 10**exp)


def add_scale_bar(ax: plt.Axes, width_px: int, height_px: int, voxel_um: float | None) -> None:
    """Draw a horizontal scale bar in micrometres (pixels when the voxel size is unknown)."""
    unit_per_px = voxel_um or 1.0
    length = nice_length(width_px * unit_per_px)
    label = f"{length:g} µm" if voxel_um else f"{length:g} px"
    bar = AnchoredSizeBar(
        ax.transData,
        length / unit_per_px,
        label,
        "lower right",
        pad=0.4,
        color="white",
        frameon=False,
        size_vertical=height_px * 0.012,
        fontproperties={"size": 9},
    )
    ax.add_artist(bar)


def orthoslices(vol: Any, center: tuple[int, int, int] | None = None) -> dict[str, np.ndarray]:
    """The xy (z = cz), xz (y = cy) and yz (x = cx) planes through ``center`` (default: middle)."""
    cz, cy, cx = center or tuple(s // 2 for s in vol.shape)
    return {
        "xy": np.asarray(vol[cz]),
        "xz": np.asarray(vol[:, cy, :]),
        "yz": np.asarray(vol[:, :, cx]),
    }


def grey_window(recon: Any) -> tuple[float, float]:
    """Display window: 0.5th and 99.5th percentiles of a few sampled z-planes."""
    sample = sample_planes(recon, 8)
    finite = sample[np.isfinite(sample)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [0.5, 99.5])
    return float(lo), float(hi if hi > lo else lo + 1)


def _label_cmap(phases: Mapping[str, int]) -> tuple[ListedColormap, int]:
    top = max(phases.values()) + 1
    colors = np.zeros((top, 4))
    for i, (name, code) in enumerate(phases.items()):
        colors[code] = (*phase_color(name, i), 1.0)
    return ListedColormap(colors), top


def _ortho_figure(
    recon: Any, labels: Any | None, voxel: float | None, title: str, alpha: float = 0.45
) -> plt.Figure:
    shape = recon.shape
    planes = orthoslices(recon)
    lab_planes = orthoslices(labels) if labels is not None else None
    vmin, vmax = grey_window(recon)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6), dpi=100, layout="constrained")
    names = {"xy": ("x", "y", "z", 0), "xz": ("x", "z", "y", 1), "yz": ("y", "z", "x", 2)}
    for ax, view in zip(axes, VIEWS, strict=True):
        horiz, vert, fixed, axis = names[view]
        h, w = planes[view].shape
        stretch = max(1.0, MIN_ASPECT * w / h)  # thin slabs: stretch vertically to stay visible
        ax.imshow(
            planes[view],
            cmap="gray",
            vmin=vmin,
            vmax=vmax,
            interpolation="nearest",
            aspect=stretch,
        )
        if lab_planes is not None:
            phases = phases_of(labels)
            cmap, top = _label_cmap(phases)
            ax.imshow(
                lab_planes[view],
                cmap=cmap,
                vmin=-0.5,
                vmax=top - 0.5,
                alpha=alpha,
                interpolation="nearest",
                aspect=stretch,
            )
        add_scale_bar(ax, w, h, voxel)
        pos = shape[axis] // 2
        where = f"{fixed} = {pos}" + (f" ({pos * voxel:.4g} µm)" if voxel else "")
        ax.set_title(f"{view} plane, {where}", fontsize=10)
        ax.set_xlabel(f"{horiz} (voxel)")
        ax.set_ylabel(f"{vert} (voxel)" + (f", stretched x{stretch:.3g}" if stretch > 1 else ""))
    if lab_planes is not None:
        phases = phases_of(labels)
        handles = [
            Patch(color=phase_color(n, i), alpha=alpha, label=f"{n} ({c})")
            for i, (n, c) in enumerate(phases.items())
        ]
        axes[-1].legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.8)
    fig.suptitle(title)
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


def _histogram_figure(
    recon: Any, labels: Any | None, thresholds: list[float], title: str
) -> plt.Figure:
    grey = sample_planes(recon, 12).astype(np.float64)
    finite = np.isfinite(grey)
    lo, hi = np.percentile(grey[finite], [0.1, 99.9]) if finite.any() else (0.0, 1.0)
    edges = np.linspace(lo, hi if hi > lo else lo + 1, 201)
    centres = (edges[:-1] + edges[1:]) / 2
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100, layout="constrained")
    total, _ = np.histogram(grey[finite], edges)
    ax.plot(centres, total, color="0.3", lw=1, label="all voxels")
    if labels is not None:
        lab = sample_planes(labels, 12)
        hists, means = {}, {}
        for i, (name, code) in enumerate(phases_of(labels).items()):
            sel = (lab == code) & finite
            if not sel.any():
                continue
            hists[name], _ = np.histogram(grey[sel], edges)
            means[name] = float(grey[sel].mean())
            ax.fill_between(
                centres,
                hists[name],
                step="mid",
                alpha=0.45,
                color=phase_color(name, i),
                label=f"{name} (mean {means[name]:.3g})",
            )
        for pair, value in class_boundaries(hists, centres, means):
            ax.axvline(value, color="k", ls=":", lw=1)
            ax.annotate(
                f"{pair}\n{value:.3g}",
                (value, ax.get_ylim()[1]),
                fontsize=7,
                ha="center",
                va="top",
                xytext=(0, -4),
                textcoords="offset points",
            )
    for i, value in enumerate(thresholds):
        ax.axvline(value, color="crimson", ls="--", lw=1.2, label="threshold" if i == 0 else None)
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.8)
    ax.set_xlabel("grey value")
    ax.set_ylabel("voxels (sampled z-planes)")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


def _fraction_depth_figure(labels: Any, voxel: float | None, title: str) -> plt.Figure:
    phases = phases_of(labels)
    fractions = fractions_along_z(labels, phases)
    z = np.arange(labels.shape[0]) * (voxel or 1.0)
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100, layout="constrained")
    for i, (name, frac) in enumerate(fractions.items()):
        ax.plot(z, frac, color=phase_color(name, i), label=f"{name} (mean {frac.mean():.3f})")
    ax.set_xlabel("z (µm)" if voxel else "z (voxel)")
    ax.set_ylabel("volume fraction in the z-plane")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return fig


def _qc_figure(qc: Mapping[str, Any], recon: Any, title: str) -> plt.Figure:
    fig, (ax_ring, ax_text) = plt.subplots(
        1, 2, figsize=(9, 3.6), dpi=100, layout="constrained", width_ratios=(1, 1.4)
    )
    before, after = qc.get("ring_metric_before"), qc.get("ring_metric_after")
    if before is not None and after is not None:
        ax_ring.bar(["before", "after"], [before, after], color=["0.6", "tab:green"])
        ax_ring.set_ylabel("ring metric")
        ax_ring.set_title("stripe / ring removal", fontsize=10)
    else:
        ax_ring.text(0.5, 0.5, "no ring metric recorded", ha="center", va="center")
        ax_ring.set_axis_off()
    width = recon.shape[-1]
    lines = []
    if qc.get("center") is not None:
        lines.append(f"rotation centre  {qc['center']:.2f}  (middle {width / 2:.1f})")
    lines.append(f"noise sigma  {qc.get('noise_sigma', float('nan')):.4g}  (middle xy plane)")
    for name, s in (qc.get("phase_grey") or {}).items():
        lines.append(f"{name}: mean {s['mean']:.4g}, std {s['std']:.3g}")
    for pair, value in (qc.get("cnr") or {}).items():
        lines.append(f"CNR {pair}: {value:.2f}" if value is not None else f"CNR {pair}: n/a")
    ax_text.text(0, 0.5, "\n".join(lines), va="center", family="monospace", fontsize=9)
    ax_text.set_axis_off()
    fig.suptitle(title)
    return fig


def _save(fig: plt.Figure, path: Path) -> None:
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def scan_figures(
    recon_path: str | os.PathLike[str],
    labels_path: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    scan_id: str,
    qc: dict | None = None,
) -> dict[str, str]:
    """Write a scan's figures (PNG) and ``qc.json`` into ``out_dir``.

    Figures: ``orthoslices.png`` (xy/xz/yz through the middle, scale bar in µm),
    ``orthoslices_labels.png`` (same with the segmentation overlaid),
    ``histogram.png`` (grey values per phase, class boundaries and any
    ``thresholds`` from the label attributes or ``qc``), ``fractions_z.png``
    (phase fractions per z-plane), ``qc.png`` (centre, ring metric before/after,
    noise, contrast) and ``surfaces_3d.png`` (rendered phase surfaces). Without
    labels only the grey-value figures are made. ``qc`` overrides the QC numbers
    found in the reconstruction attributes. Returns name -> path relative to ``out_dir``.
    """
    recon = open_3d(recon_path, "reconstruction")
    labels = open_3d(labels_path, "labels") if labels_path is not None else None
    if labels is not None:
        check_same_shape(recon, labels, Path(recon_path), Path(labels_path))
    out = Path(out_dir)
    voxel = voxel_size_um(recon, labels)
    numbers = scan_qc(recon, labels, qc)
    thresholds = (qc or {}).get("thresholds") or (
        volume_attrs(labels).get("thresholds") if labels is not None else None
    )
    thresholds = [float(t) for t in np.atleast_1d(thresholds)] if thresholds is not None else []
    figures: dict[str, plt.Figure] = {
        "orthoslices": _ortho_figure(recon, None, voxel, f"{scan_id}: reconstruction"),
        "histogram": _histogram_figure(recon, labels, thresholds, f"{scan_id}: grey values"),
        "qc": _qc_figure(numbers, recon, f"{scan_id}: quality checks"),
    }
    if labels is not None:
        figures["orthoslices_labels"] = _ortho_figure(
            recon, labels, voxel, f"{scan_id}: segmentation overlay"
        )
        figures["fractions_z"] = _fraction_depth_figure(
            labels, voxel, f"{scan_id}: phase fractions along z"
        )
    written = {}
    for name, fig in figures.items():
        _save(fig, out / f"{name}.png")
        written[name] = f"{name}.png"
    if labels is not None:
        render_surfaces(labels, out / "surfaces_3d.png", f"{scan_id}: phase surfaces")
        written["surfaces_3d"] = "surfaces_3d.png"
    with atomic_output(out / "qc.json") as tmp:
        tmp.write_text(json.dumps(numbers, indent=1, default=float))
    written["qc_json"] = "qc.json"
    return written
