"""Plots across the scans of a beamtime, returned as PNG bytes for embedding.

Volume fractions are 0..1, tortuosity factors dimensionless. The fitted curve is
tau = eps**(-beta) (least squares in log-log space,
:func:`tomosnake.viz.morphology.fit_bruggeman`); in the Bruggeman form used by
``tomosnake.morph`` (D_eff / D = eps / tau = eps**alpha) that is alpha = 1 + beta,
so Bruggeman's packed spheres (alpha = 1.5) give tau = eps**-0.5.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tomosnake.viz.inputs import phase_color  # noqa: E402
from tomosnake.viz.morphology import (  # noqa: E402
    fit_bruggeman,
    size_distributions,
    tortuosities,
    volume_fractions,
)

MARKERS = {"x": "o", "y": "s", "z": "^", "": "D"}


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def tau_points(morphs: Mapping[str, Mapping[str, Any]]) -> dict[str, list[tuple]]:
    """Phase -> [(scan, axis, volume fraction, tortuosity factor)] over all scans."""
    out: dict[str, list[tuple]] = {}
    for scan, morph in morphs.items():
        vf = volume_fractions(morph)
        for phase, axes in tortuosities(morph).items():
            if phase in vf:
                out.setdefault(phase, []).extend(
                    (scan, axis, vf[phase], tau) for axis, tau in axes.items()
                )
    return out


def bruggeman_plot(morphs: Mapping[str, Mapping[str, Any]]) -> tuple[bytes | None, dict]:
    """Tortuosity factor versus volume fraction with fitted Bruggeman curves.

    Returns (PNG bytes or None without data, {phase: {"beta", "alpha", "n_points"}}) with
    tau = eps**-beta and the Bruggeman exponent alpha = 1 + beta (D_eff / D = eps**alpha).
    """
    points = tau_points(morphs)
    if not points:
        return None, {}
    fig, ax = plt.subplots(figsize=(7, 4.8), dpi=100, layout="constrained")
    fits = {}
    for i, (phase, pts) in enumerate(points.items()):
        color = phase_color(phase, i)
        eps = np.array([p[2] for p in pts])
        tau = np.array([p[3] for p in pts])
        for axis in sorted({p[1] for p in pts}):
            sel = np.array([p[1] == axis for p in pts])
            ax.scatter(
                eps[sel],
                tau[sel],
                color=color,
                marker=MARKERS.get(axis, "o"),
                label=f"{phase} {axis}".strip(),
                edgecolor="k",
                lw=0.4,
                zorder=3,
            )
        beta = fit_bruggeman(eps, tau)
        fits[phase] = {
            "beta": beta,
            "alpha": None if beta is None else 1 + beta,
            "n_points": int(len(pts)),
        }
        if beta is not None:
            lo, hi = max(eps.min() * 0.8, 1e-3), min(eps.max() * 1.2, 1.0)
            grid = np.linspace(lo, hi, 100)
            label = f"{phase}: τ = ε^-{beta:.2f} (fit, α = {1 + beta:.2f})"
            ax.plot(grid, grid ** (-beta), color=color, label=label)
    grid = np.linspace(0.05, 1, 100)
    ax.plot(
        grid,
        grid**-0.5,
        color="0.5",
        ls="--",
        lw=1,
        label="Bruggeman spheres: τ = ε^-0.5 (α = 1.5)",
    )
    ax.set_xlabel("volume fraction ε of the phase")
    ax.set_ylabel("tortuosity factor τ")
    ax.set_ylim(bottom=min(0.9, ax.get_ylim()[0]))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("tortuosity factor versus volume fraction (all scans)")
    return _png(fig), fits


def size_distribution_plot(morphs: Mapping[str, Mapping[str, Any]]) -> bytes | None:
    """One panel per distribution found in morphology.json, one curve per scan (None if none)."""
    curves: dict[str, dict[str, tuple]] = {}
    for scan, morph in morphs.items():
        for key, curve in size_distributions(morph).items():
            curves.setdefault(key, {})[scan] = curve
    if not curves:
        return None
    n = len(curves)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(5.2 * cols, 3.8 * rows),
        dpi=100,
        layout="constrained",
        squeeze=False,
    )
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    for ax, (key, per_scan) in zip(axes.flat, curves.items(), strict=False):
        for scan, (x, y, xname, yname) in per_scan.items():
            ax.plot(x, y, marker=".", label=scan)
            ax.set_xlabel(xname)
            ax.set_ylabel(yname)
        ax.set_title(key, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _png(fig)


def fractions_plot(morphs: Mapping[str, Mapping[str, Any]]) -> bytes | None:
    """Stacked bars of each scan's phase volume fractions (None if no scan has any)."""
    vfs = {scan: volume_fractions(m) for scan, m in morphs.items()}
    vfs = {s: v for s, v in vfs.items() if v}
    if not vfs:
        return None
    phases = list(dict.fromkeys(p for v in vfs.values() for p in v))
    scans = list(vfs)
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(scans) + 3), 4), dpi=100, layout="constrained")
    bottom = np.zeros(len(scans))
    for i, phase in enumerate(phases):
        values = np.array([vfs[s].get(phase, 0.0) for s in scans])
        ax.bar(scans, values, bottom=bottom, color=phase_color(phase, i), label=phase)
        bottom += values
    ax.set_ylabel("volume fraction")
    ax.set_ylim(0, max(1.0, bottom.max()))
    ax.legend(fontsize=8, loc="upper right")
    ax.tick_params(axis="x", rotation=45)
    ax.set_title("phase volume fractions per scan")
    return _png(fig)
