"""One look for every figure, table and mesh: the phase palette and print-ready figure style.

Colours are Okabe and Ito's colour-blind-safe set. A phase keeps its colour everywhere
(tables, label overlays, meshes, plots, the 3-D viewer, OME-Zarr label colours). Figures
are sized for a journal column (:data:`SINGLE` = 3.5 in, :data:`DOUBLE` = 7.2 in) with
8-9 pt text, and are written twice: PNG (300 dpi) and SVG with text kept as text, so
titles and labels stay editable (Inkscape, Illustrator) and searchable.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tomosnake.io import atomic_output  # noqa: E402

#: phase name (lower case) -> colour; synonyms share the colour of their phase
PHASE_COLORS: dict[str, str] = {
    "pore": "#56B4E9",
    "void": "#56B4E9",
    "electrolyte": "#56B4E9",
    "cbd": "#009E73",
    "binder": "#009E73",
    "carbon": "#009E73",
    "nmc": "#D55E00",
    "am": "#D55E00",
    "active": "#D55E00",
    "particle": "#D55E00",
    "crack": "#CC79A7",
    "separator": "#F0E442",
}
#: colours of phases not named above, by their position in the phase list
OTHER_COLORS = ("#E69F00", "#0072B2", "#CC79A7", "#F0E442", "#999999", "#000000")
#: journal column widths (inches)
SINGLE, DOUBLE = 3.5, 7.2
#: PNG resolution (dots per inch)
PNG_DPI = 300
#: matplotlib settings of every tomosnake figure
RC = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": True,
    "legend.framealpha": 0.85,
    "legend.edgecolor": "none",
    "figure.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.3,
    "lines.markersize": 4,
    "svg.fonttype": "none",  # text stays text in the SVG
    "savefig.dpi": PNG_DPI,
    "figure.dpi": 100,
}


def phase_hex(name: str, index: int = 0) -> str:
    """``#rrggbb`` colour of a phase: fixed for known names, else by its ``index``."""
    return PHASE_COLORS.get(name.lower(), OTHER_COLORS[index % len(OTHER_COLORS)])


def phase_color(name: str, index: int = 0) -> tuple[float, float, float]:
    """RGB colour (0..1) of a phase (see :func:`phase_hex`)."""
    h = phase_hex(name, index)
    return tuple(int(h[i : i + 2], 16) / 255 for i in (1, 3, 5))


@contextlib.contextmanager
def print_style() -> Iterator[None]:
    """Matplotlib settings for print-sized figures (:data:`RC`) within the block."""
    with matplotlib.rc_context(RC):
        yield


def label_axes(ax: plt.Axes, title: str, xlabel: str, ylabel: str) -> None:
    """Title and axis labels (words with units), tagged so the SVG names them.

    The SVG groups get ids ``title``, ``xlabel``, ``ylabel``: the report's tests and
    anyone editing the figure find them there.
    """
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.title.set_gid("title")
    ax.xaxis.label.set_gid("xlabel")
    ax.yaxis.label.set_gid("ylabel")


def figure_title(fig: plt.Figure, title: str) -> None:
    """A figure-wide title (SVG group id ``title``)."""
    fig.suptitle(title).set_gid("title")


def figure_bytes(fig: plt.Figure, fmt: str) -> bytes:
    """The figure encoded as ``png`` (300 dpi) or ``svg``; the figure stays open."""
    buf = io.BytesIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()


def save_figure(fig: plt.Figure, base: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``base.png`` and ``base.svg`` atomically and close the figure."""
    base = Path(base)
    out = []
    try:
        for fmt in ("png", "svg"):
            path = base.with_suffix(f".{fmt}")
            with atomic_output(path) as tmp:
                tmp.write_bytes(figure_bytes(fig, fmt))
            out.append(path)
    finally:
        plt.close(fig)
    return out[0], out[1]
