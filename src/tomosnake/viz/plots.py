"""Print-ready plots of one scan's records: size distributions, centre checks, FRC, confidence.

Each function returns a matplotlib figure (draw it with :func:`tomosnake.viz.style.save_figure`)
or None when its record lacks the data. Every axis is labelled in words with its unit;
phases keep their colour (:mod:`tomosnake.viz.style`); lines that are not phases are
black or grey. Records are ``morphology.json``, ``center.json`` and ``segment_qc.json``
(shapes in ``tomosnake.viz.findings``' inputs and the project's contracts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tomosnake.viz.morphology import Distribution, distributions, is_number, phases  # noqa: E402
from tomosnake.viz.style import DOUBLE, SINGLE, label_axes, phase_hex, print_style  # noqa: E402

#: markers of non-phase series (centre methods, axes)
MARKERS = ("o", "s", "^", "D", "v", "P")
GREYS = ("black", "0.45", "0.7")


def cumulative(d: Distribution) -> tuple[np.ndarray, np.ndarray]:
    """(sizes, cumulative fraction) at the bin edges of a distribution (0 ... 1)."""
    return d.edges, np.concatenate([[0.0], np.cumsum(d.fraction)])


def median_of(d: Distribution) -> float:
    """The distribution's d50: the record's, else interpolated on the cumulative curve."""
    if d.d50 is not None:
        return d.d50
    x, c = cumulative(d)
    return float(np.interp(0.5, c, x))


def crossing(x: np.ndarray, d: np.ndarray) -> float | None:
    """First x (linear interpolation) where ``d`` turns from >= 0 to < 0, or None."""
    below = np.nonzero((d[1:] < 0) & (d[:-1] >= 0))[0]
    if not below.size:
        return None
    i = below[0]
    return float(x[i] + (x[i + 1] - x[i]) * d[i] / (d[i] - d[i + 1]))


def size_distribution_figure(rec: Mapping[str, Any]) -> plt.Figure | None:
    """Cumulative size distributions with the median marked, one panel per kind.

    Local thickness (volume-weighted, every phase) and particle diameters
    (number-weighted, separated particles).
    """
    dists = distributions(rec)
    kinds = [k for k in ("thickness", "particles") if any(d.kind == k for d in dists)]
    if not kinds:
        return None
    order = phases(rec)
    with print_style():
        fig, axes = plt.subplots(
            1, len(kinds), figsize=(DOUBLE if len(kinds) > 1 else SINGLE, 2.6),
            layout="constrained", squeeze=False,
        )
        for ax, kind in zip(axes[0], kinds, strict=True):
            sel = [d for d in dists if d.kind == kind]
            for d in sel:
                idx = order.index(d.phase) if d.phase in order else 0
                color = phase_hex(d.phase, idx)
                x, c = cumulative(d)
                med = median_of(d)
                extra = f", {d.n_particles} particles" if d.n_particles else ""
                ax.plot(x, c, color=color, label=f"{d.phase}: median {med:.3g} {d.unit}{extra}")
                ax.plot([med, med], [0, 0.5], color=color, ls="--", lw=0.8)
                ax.plot([med], [0.5], "o", color=color, mec="black", mew=0.5, zorder=3)
            ax.axhline(0.5, color="0.7", lw=0.6, zorder=0)
            ax.set_ylim(0, 1.02)
            ax.set_xlim(left=0)
            ax.legend(loc="lower right")
            d0 = sel[0]
            label_axes(
                ax,
                f"{d0.quantity} ({d0.weighting}-weighted)",
                f"{d0.quantity} ({d0.unit})",
                f"cumulative {d0.weighting} fraction",
            )
    return fig


def center_figure(center: Mapping[str, Any]) -> plt.Figure | None:
    """Rotation centre found by each method at each detector row, with the fitted line."""
    heights = np.asarray(center.get("heights") or [], float)
    methods = center.get("methods") or {}
    if not len(heights) or not methods:
        return None
    with print_style():
        fig, ax = plt.subplots(figsize=(SINGLE, 2.6), layout="constrained")
        for i, (name, values) in enumerate(methods.items()):
            y = np.array([v if is_number(v) else np.nan for v in values], float)
            if np.isfinite(y).any():
                ax.plot(heights[: len(y)], y, MARKERS[i % len(MARKERS)], color=GREYS[i % 3],
                        mfc="none" if i % 2 else GREYS[i % 3], label=name)
        rows = np.arange(int(center.get("n_rows") or heights.max() + 1))
        fit = center.get("fit") or {}
        if center.get("per_row"):
            ax.plot(rows[: len(center["per_row"])], center["per_row"], color="black", lw=0.8,
                    label="centre used (per row)")
        elif is_number(fit.get("intercept_px")):
            slope = fit.get("slope_px_per_row") or 0.0
            ax.plot(rows, fit["intercept_px"] + slope * rows, color="black", lw=0.8,
                    label=f"{fit.get('kind', 'fit')} fit (tilt {fit.get('tilt_deg', 0):.2f}°)")
        agreement = center.get("agreement") or {}
        verdict = ""
        if "agree" in agreement:
            spread = agreement.get("spread_px")
            verdict = (
                f"methods agree (spread {spread:.2g} px)"
                if agreement["agree"]
                else f"methods DISAGREE (spread {spread:.2g} px)"
            )
        ax.legend()
        label_axes(
            ax,
            "rotation centre per detector row" + (f"\n{verdict}" if verdict else ""),
            "detector row (pixel)",
            "rotation centre (pixel)",
        )
    return fig


def sharpness_figure(center: Mapping[str, Any]) -> plt.Figure | None:
    """The centre sweep's image metric against the trial centre, best centre marked."""
    sweep = center.get("sweep") or {}
    c, m = sweep.get("centers"), sweep.get("metric")
    if not c or not m or len(c) != len(m):
        return None
    name = sweep.get("metric_name") or "sharpness"
    with print_style():
        fig, ax = plt.subplots(figsize=(SINGLE, 2.4), layout="constrained")
        ax.plot(c, m, "o-", color="black", mfc="white")
        best = sweep.get("best_center")
        if is_number(best):
            ax.axvline(best, color="0.45", ls="--", lw=0.8, label=f"best {best:.2f} px")
            ax.legend()
        label_axes(ax, f"centre sweep on row {sweep.get('row', '?')}", "rotation centre (pixel)",
                   f"{name} (a.u.)")
    return fig


def frc_figure(center: Mapping[str, Any]) -> plt.Figure | None:
    """Fourier ring correlation of two half-data reconstructions, threshold and resolution."""
    frc = center.get("frc") or {}
    f, c = frc.get("frequency"), frc.get("frc")
    if not f or not c or len(f) != len(c):
        return None
    with print_style():
        fig, ax = plt.subplots(figsize=(SINGLE, 2.4), layout="constrained")
        ax.plot(f, c, color="black", label="FRC")
        if frc.get("threshold") and len(frc["threshold"]) == len(f):
            ax.plot(f, frc["threshold"], color="0.45", ls="--",
                    label=f"{frc.get('threshold_name', 'threshold')} threshold")
            cross = crossing(np.asarray(f, float), np.asarray(c, float) - frc["threshold"])
            if cross is not None:
                ax.axvline(cross, color="0.7", lw=0.8)
        res = []
        if is_number(frc.get("resolution_um")):
            res.append(f"{frc['resolution_um']:.3g} µm")
        if is_number(frc.get("resolution_px")):
            res.append(f"{frc['resolution_px']:.3g} px")
        ax.set_ylim(min(-0.05, np.nanmin(np.asarray(c, float))), 1.05)
        ax.legend()
        title = "Fourier ring correlation" + (f"\nresolution {', '.join(res)}" if res else "")
        label_axes(ax, title, "spatial frequency (cycles per pixel)", "Fourier ring correlation")
    return fig


def confidence_figure(seg: Mapping[str, Any]) -> plt.Figure | None:
    """Segmentation confidence per slice, labelled slices and slices suggested for labelling."""
    per = seg.get("per_slice") or {}
    z, mean = per.get("z"), per.get("mean_confidence")
    if not z or not mean:
        return None
    low = per.get("low_confidence_fraction")
    with print_style():
        fig, axes = plt.subplots(2 if low else 1, 1, figsize=(SINGLE, 3.6 if low else 2.2),
                                 layout="constrained", sharex=True, squeeze=False)
        ax0 = axes[0, 0]
        ax0.plot(z, mean, color="black")
        label_axes(ax0, f"segmentation confidence ({seg.get('method', '?')})",
                   "slice z (voxel)", "mean confidence")
        if low:
            ax1 = axes[1, 0]
            ax1.plot(z, low, color="black")
            thr = seg.get("low_confidence_threshold")
            thr_text = f" (probability < {thr:g})" if is_number(thr) else ""
            label_axes(ax1, f"low-confidence voxels{thr_text}", "slice z (voxel)",
                       "low-confidence voxel fraction")
        for ax in axes[:, 0]:
            for i, s in enumerate(seg.get("labelled_slices") or []):
                ax.axvline(s, color="0.6", ls=":", lw=1, label=None if i else "labelled (training)")
            for i, s in enumerate(seg.get("suggested_slices") or []):
                ax.axvline(s, color="black", ls="--", lw=0.8, label=None if i else "label next")
        if seg.get("labelled_slices") or seg.get("suggested_slices"):
            ax0.legend(loc="lower right")
    return fig
