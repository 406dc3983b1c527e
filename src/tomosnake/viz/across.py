"""Across scans: the overview table, the Bruggeman fit, series plots and phase fractions.

Comparisons use only values that mean something: a scan failing quality control
(:attr:`tomosnake.viz.scans.Scan.failed`) is left out whole, and a tortuosity value that
is non-percolating, unconverged or flagged is left out on its own; every left-out value
is listed with its reason. Series group scans by one scan-sheet column and order them
by another (report setting ``report.series``: ``group_by``, ``order_by``, ``label``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from tomosnake.errors import ConfigError  # noqa: E402
from tomosnake.viz import html as H  # noqa: E402
from tomosnake.viz.morphology import (  # noqa: E402
    AXES,
    distributions,
    fit_bruggeman,
    percolating_fractions,
    phases,
    specific_surface,
    tortuosities,
    volume_fractions,
)
from tomosnake.viz.scans import Scan  # noqa: E402
from tomosnake.viz.style import (  # noqa: E402
    DOUBLE,
    SINGLE,
    figure_bytes,
    figure_title,
    label_axes,
    phase_hex,
    print_style,
)

AXIS_MARKERS = {"z": "^", "y": "s", "x": "o"}
GROUP_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1)), "v"))
SERIES_KEYS = ("group_by", "order_by", "label")


@dataclass(frozen=True)
class LeftOut:
    """A value (or a whole scan) left out of a comparison, and why."""

    scan: str
    what: str
    reason: str


def phase_order(scans: Sequence[Scan]) -> list[str]:
    """Phase names of all scans, in label-code order of their first appearance."""
    return list(dict.fromkeys(p for s in scans if s.morph for p in phases(s.morph)))


def color_of(phase: str, order: Sequence[str]) -> str:
    """The phase's palette colour (its index in ``order`` picks colours for unknown names)."""
    return phase_hex(phase, order.index(phase) if phase in order else 0)


def _fail_reason(scan: Scan) -> str:
    return "fails QC: " + "; ".join(f.short for f in scan.failed)


def usable_scans(scans: Sequence[Scan]) -> tuple[list[Scan], list[LeftOut]]:
    """Scans with a morphology record that pass QC, and the left-out ones with reasons."""
    keep, left = [], []
    for s in scans:
        if s.morph is None:
            left.append(LeftOut(s.id, "all values", "no morphology record"))
        elif s.failed:
            left.append(LeftOut(s.id, "all values", _fail_reason(s)))
        else:
            keep.append(s)
    return keep, left


# ---- Bruggeman fit ---------------------------------------------------------------------


def tau_points(scans: Sequence[Scan]) -> tuple[list[tuple], list[LeftOut]]:
    """[(scan, phase, axis, eps, tau)] fit for a Bruggeman fit, and the values left out."""
    points, left = [], []
    for s in scans:
        taus = tortuosities(s.morph) if s.morph is not None else {}
        if s.failed and taus:
            left.append(LeftOut(s.id, "all τ values", _fail_reason(s)))
            continue
        vf = volume_fractions(s.morph or {})
        for phase, per_axis in taus.items():
            for axis, t in per_axis.items():
                what = f"{phase} τ {axis}"
                eps = t.eps if t.eps is not None else vf.get(phase)
                if t.problem:
                    left.append(LeftOut(s.id, what, t.problem))
                elif eps is None:
                    left.append(LeftOut(s.id, what, "no volume fraction"))
                else:
                    points.append((s.id, phase, axis, eps, t.tau))
    return points, left


def bruggeman_figure(points: Sequence[tuple], order: Sequence[str]):
    """Tortuosity factor against volume fraction with the fitted Bruggeman curve per phase.

    Returns (figure, {phase: {"beta", "alpha", "n_points", "scans"}}): tau = eps**-beta,
    Bruggeman exponent alpha = 1 + beta (D_eff / D_0 = eps**alpha).
    """
    fits: dict[str, dict[str, Any]] = {}
    with print_style():
        fig, ax = plt.subplots(figsize=(SINGLE, 3.0), layout="constrained")
        for phase in dict.fromkeys(p[1] for p in points):
            pts = [p for p in points if p[1] == phase]
            color = color_of(phase, order)
            eps = np.array([p[3] for p in pts])
            tau = np.array([p[4] for p in pts])
            for axis in dict.fromkeys(p[2] for p in pts):
                sel = np.array([p[2] == axis for p in pts])
                ax.scatter(eps[sel], tau[sel], color=color, marker=AXIS_MARKERS.get(axis, "D"),
                           edgecolor="black", lw=0.4, s=18, zorder=3)
            beta = fit_bruggeman(eps, tau)
            fits[phase] = {
                "beta": beta,
                "alpha": None if beta is None else 1 + beta,
                "n_points": len(pts),
                "scans": sorted({p[0] for p in pts}),
            }
            if beta is not None:
                grid = np.linspace(max(eps.min() * 0.8, 1e-3), min(eps.max() * 1.2, 1.0), 100)
                ax.plot(grid, grid ** (-beta), color=color,
                        label=f"{phase}: fit α = {1 + beta:.2f}")
        grid = np.linspace(0.05, 1, 100)
        ax.plot(grid, grid**-0.5, color="0.5", ls="--", lw=0.9, label="Bruggeman spheres α = 1.5")
        handles, _ = ax.get_legend_handles_labels()
        handles += [
            Line2D([], [], ls="", marker=AXIS_MARKERS[a], color="black", mfc="none", label=f"{a}")
            for a in AXES
            if any(p[2] == a for p in points)
        ]
        ax.legend(handles=handles, ncol=2)
        ax.set_ylim(bottom=min(0.9, ax.get_ylim()[0]))
        label_axes(ax, "tortuosity factor versus volume fraction", "volume fraction ε",
                   "tortuosity factor τ")
    return fig, fits


# ---- series --------------------------------------------------------------------------

Metric = Callable[[Mapping[str, Any]], dict[str, tuple[float | None, str]]]


def _per_phase(values: Mapping[str, float]) -> dict[str, tuple[float | None, str]]:
    return {p: (v, "") for p, v in values.items()}


def _tau_mean(attr: str) -> Metric:
    """Mean over axes of a tortuosity quantity; left out if any axis is not usable."""

    def metric(rec: Mapping[str, Any]) -> dict[str, tuple[float | None, str]]:
        out = {}
        for phase, per_axis in tortuosities(rec).items():
            bad = [f"{a}: {t.problem}" for a, t in per_axis.items() if t.problem]
            vals = [getattr(t, attr) for t in per_axis.values()]
            if bad or any(v is None for v in vals):
                out[phase] = (None, "; ".join(bad) or "missing")
            else:
                out[phase] = (float(np.mean(vals)), "")
        return out

    return metric


def _median(kind: str) -> Metric:
    def metric(rec: Mapping[str, Any]) -> dict[str, tuple[float | None, str]]:
        return {d.phase: (d.d50, "") for d in distributions(rec) if d.kind == kind}

    return metric


def _unit(rec: Mapping[str, Any], kind: str) -> str:
    if kind == "surface":
        return specific_surface(rec)[1] or "µm⁻¹"
    return next((d.unit for d in distributions(rec) if d.kind == kind), "µm")


def series_metrics(rec: Mapping[str, Any]) -> list[tuple[str, str, Metric]]:
    """(title, axis label with unit, extractor) of every metric plotted along a series."""
    perc = lambda r: _per_phase(  # noqa: E731
        {p: float(np.mean(list(a.values()))) for p, a in percolating_fractions(r).items() if a}
    )
    return [
        ("volume fraction", "volume fraction", lambda r: _per_phase(volume_fractions(r))),
        ("specific surface", f"specific surface ({_unit(rec, 'surface')})",
         lambda r: _per_phase(specific_surface(r)[0])),
        ("percolating fraction (mean of axes)", "percolating fraction", perc),
        ("tortuosity factor (mean of axes)", "tortuosity factor τ", _tau_mean("tau")),
        ("relative diffusivity (mean of axes)", "D_eff/D_0", _tau_mean("d_rel")),
        ("MacMullin number (mean of axes)", "MacMullin number", _tau_mean("macmullin")),
        ("median local thickness", f"median local thickness ({_unit(rec, 'thickness')})",
         _median("thickness")),
        ("median particle diameter", f"median particle diameter ({_unit(rec, 'particles')})",
         _median("particles")),
    ]


def check_series(series: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A validated ``report.series`` dict (keys :data:`SERIES_KEYS`), or None."""
    if not series:
        return None
    unknown = sorted(set(series) - set(SERIES_KEYS))
    if unknown:
        raise ConfigError(f"report.series: unknown key(s) {unknown}; expected {SERIES_KEYS}")
    if not series.get("group_by") and not series.get("order_by"):
        raise ConfigError("report.series: give group_by and/or order_by (scan-sheet columns)")
    return dict(series)


def _positions(values: Sequence[Any]) -> tuple[np.ndarray, list[str] | None]:
    """x positions of order values: numbers as they are, else categories in order seen."""
    try:
        return np.array([float(v) for v in values]), None
    except (TypeError, ValueError):
        cats = list(dict.fromkeys(str(v) for v in values))
        return np.array([cats.index(str(v)) for v in values], float), cats


def series_figure(scans: Sequence[Scan], series: Mapping[str, Any], order: Sequence[str]):
    """Every main metric along the series, one line per (group, phase).

    Returns (figure or None, values left out). Colour is the phase, line style and
    marker the group.
    """
    group_by, order_by = series.get("group_by"), series.get("order_by")
    keep, left = usable_scans(scans)
    if not keep:
        return None, left
    rows = [s.inputs.sheet_row for s in keep]
    groups = [str(r.get(group_by, "(none)")) if group_by else "all scans" for r in rows]
    if order_by:
        missing = [s.id for s, r in zip(keep, rows, strict=True) if r.get(order_by) is None]
        left += [LeftOut(m, "all values", f"no '{order_by}' in its scan-sheet row")
                 for m in missing]
        pairs = [(s, g, r[order_by]) for s, g, r in zip(keep, groups, rows, strict=True)
                 if r.get(order_by) is not None]
    else:
        pairs = [(s, g, i) for i, (s, g) in enumerate(zip(keep, groups, strict=True))]
    if not pairs:
        return None, left
    x, cats = _positions([p[2] for p in pairs])
    metrics = series_metrics(keep[0].morph)
    group_names = list(dict.fromkeys(p[1] for p in pairs))
    data: list[tuple[str, str, dict]] = []
    for title, ylabel, metric in metrics:
        per_line: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for (s, g, _), xi in zip(pairs, x, strict=True):
            for phase, (value, why) in metric(s.morph).items():
                if value is None:
                    left.append(LeftOut(s.id, f"{phase} {title}", why))
                else:
                    per_line.setdefault((g, phase), []).append((xi, value))
        if per_line:
            data.append((title, ylabel, per_line))
    if not data:
        return None, left
    ncols = 2
    nrows = -(-len(data) // ncols)
    xlabel = series.get("label") or (order_by if order_by else "scan order")
    with print_style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(DOUBLE, 1.9 * nrows + 0.6),
                                 layout="constrained", squeeze=False)
        for ax in axes.flat[len(data):]:
            ax.set_axis_off()
        for ax, (title, ylabel, per_line) in zip(axes.flat, data, strict=False):
            for (g, phase), pts in per_line.items():
                pts = sorted(pts)
                ls, marker = GROUP_STYLES[group_names.index(g) % len(GROUP_STYLES)]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], ls=ls, marker=marker,
                        color=color_of(phase, order))
            if cats:
                ax.set_xticks(range(len(cats)), cats)
            label_axes(ax, title, xlabel, ylabel)
        handles = [Line2D([], [], color=color_of(p, order), label=p) for p in order]
        if len(group_names) > 1 or group_by:
            handles += [
                Line2D([], [], color="black", ls=GROUP_STYLES[i % 5][0],
                       marker=GROUP_STYLES[i % 5][1], label=f"{group_by} {g}" if group_by else g)
                for i, g in enumerate(group_names)
            ]
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6))
        by = f", grouped by {group_by}" if group_by else ""
        figure_title(fig, f"morphology along {xlabel}{by}")
    return fig, left


def fractions_figure(scans: Sequence[Scan], order: Sequence[str]):
    """Stacked bars of the phase volume fractions of the scans passing QC (None if none)."""
    keep, _ = usable_scans(scans)
    vfs = {s.id: volume_fractions(s.morph) for s in keep}
    vfs = {k: v for k, v in vfs.items() if v}
    if not vfs:
        return None
    names = list(vfs)
    with print_style():
        fig, ax = plt.subplots(figsize=(SINGLE, 0.9 + 0.22 * len(names)), layout="constrained")
        left = np.zeros(len(names))
        for phase in order:
            values = np.array([vfs[n].get(phase, 0.0) for n in names])
            ax.barh(names, values, left=left, color=color_of(phase, order), label=phase)
            left += values
        ax.set_xlim(0, max(1.0, left.max()))
        ax.invert_yaxis()
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=len(order))
        label_axes(ax, "phase volume fractions per scan", "volume fraction", "scan")
    return fig


# ---- HTML ----------------------------------------------------------------------------


def svg_figure(fig, caption: str, name: str) -> str:
    """A figure embedded as SVG (vector), with a link saving it as ``name``.svg."""
    svg = figure_bytes(fig, "svg")
    width = int(fig.get_size_inches()[0] * 150)
    plt.close(fig)
    return H.figure(H.data_uri(svg, "image/svg+xml"), caption, "plot", width,
                    fig_id=f"fig-{name}", download=f"{name}.svg")


def left_out_table(left: Sequence[LeftOut], what: str) -> str:
    """A sentence and table of the values left out of a comparison."""
    if not left:
        return f'<p class="note">Nothing was left out of the {what}.</p>'
    rows = [[x.scan, x.what, x.reason] for x in left]
    return (
        f'<p class="note">Left out of the {what} ({len(left)}):</p>'
        + H.table(["scan", "value", "why"], rows)
    )


def bruggeman_section(scans: Sequence[Scan], order: Sequence[str]) -> tuple[str, bool]:
    """The Bruggeman plot, fit table and left-out values; (html, whether a fit was made)."""
    points, left = tau_points(scans)
    if not points:
        return (
            "<h3>Tortuosity and the Bruggeman relation</h3><p>No percolating tortuosity "
            "factor from a scan passing QC.</p>" + left_out_table(left, "fit"),
            False,
        )
    fig, fits = bruggeman_figure(points, order)
    rows = [
        [H.Td(f'<td class="t">{H.swatch(color_of(p, order))}{H.esc(p)}</td>'), f["beta"],
         f["alpha"], f["n_points"], ", ".join(f["scans"])]
        for p, f in fits.items()
    ]
    table = H.table(
        ["phase", "β in τ = ε^-β", "Bruggeman α = 1 + β", "values", "scans"], rows
    )
    return (
        "<h3>Tortuosity and the Bruggeman relation</h3>"
        + svg_figure(fig, "Tortuosity factor against volume fraction, one marker per transport "
                     "axis, with the Bruggeman relation fitted per phase (least squares on "
                     "log τ = -β log ε).", "bruggeman")
        + table
        + left_out_table(left, "fit"),
        True,
    )


def across_section(
    scans: Sequence[Scan], series: Mapping[str, Any] | None
) -> tuple[str, bool]:
    """The "Across scans" section; (html, whether a Bruggeman fit was made)."""
    order = phase_order(scans)
    brugg, fitted = bruggeman_section(scans, order)
    parts = ['<section id="across"><h2>Across scans</h2>', brugg]
    if series:
        fig, left = series_figure(scans, series, order)
        parts.append("<h3>Series</h3>")
        if fig is not None:
            parts.append(svg_figure(fig, "Each main metric along the series (tortuosity "
                                    "quantities are means over the transport axes).", "series"))
        else:
            parts.append("<p>No scan passing QC has a value along the series.</p>")
        parts.append(left_out_table(left, "series"))
    fig = fractions_figure(scans, order)
    if fig is not None:
        _, left = usable_scans(scans)
        parts.append("<h3>Phase fractions</h3>" + svg_figure(
            fig, "Volume fraction of each phase in each scan passing QC.", "fractions"))
        parts.append(left_out_table(left, "comparison"))
    parts.append("</section>")
    return "\n".join(parts), fitted
