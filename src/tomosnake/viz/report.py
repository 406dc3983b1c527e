"""The per-beamtime report: one self-contained ``results/report.html``.

It holds a sortable table of all scans (QC flags, QC numbers, morphology numbers),
plots across scans (tortuosity versus porosity with the fitted Bruggeman curve,
size distributions, phase fractions), one section per scan with its figures,
meshes and OME-Zarr, and the provenance (hashes, versions, commit, step runtimes).
Images are embedded as base64 PNG; there is no network access and no external file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from tomosnake import __version__
from tomosnake.errors import InputError
from tomosnake.io import atomic_output, open_volume
from tomosnake.viz import html as H
from tomosnake.viz.benchmarks import collect_benchmarks
from tomosnake.viz.morphology import (
    flatten_numbers,
    is_number,
    tortuosity_flags,
    volume_fractions,
)
from tomosnake.viz.plots import bruggeman_plot, fractions_plot, size_distribution_plot
from tomosnake.viz.qc import qc_flags, scan_qc

#: per-scan outputs whose absence is flagged
EXPECTED = ("recon.zarr", "labels.zarr", "morphology.json", "figures")
#: figure files shown first, in this order; other PNGs follow by name
FIGURE_ORDER = (
    "orthoslices",
    "orthoslices_labels",
    "histogram",
    "fractions_z",
    "surfaces_3d",
    "qc",
)
#: results_dir entries that are never scans
NOT_SCANS = {"benchmarks", "logs", "models", "tmp"}
#: provenance keys shown first when present
PROVENANCE_HEAD = (
    "git_commit",
    "config",
    "config_sha256",
    "config_hash",
    "scan_sheet",
    "scan_sheet_sha256",
    "scan_sheet_hash",
)


def read_summary(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The beamtime summary table (one row per scan, column ``scan_id``)."""
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: not a readable CSV table ({exc})") from exc
    if "scan_id" not in table.columns:
        raise InputError(f"{path}: summary table has no 'scan_id' column")
    table["scan_id"] = table["scan_id"].astype(str)
    return table


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def find_scans(results_dir: Path, summary: pd.DataFrame | None) -> list[str]:
    """Scan ids: the summary's order first, then folders holding any per-scan output."""
    scans = list(summary["scan_id"]) if summary is not None else []
    if results_dir.is_dir():
        for sub in sorted(p for p in results_dir.iterdir() if p.is_dir()):
            if (
                sub.name not in NOT_SCANS
                and sub.name not in scans
                and any((sub / name).exists() for name in EXPECTED)
            ):
                scans.append(sub.name)
    return scans


def _open_or_none(path: Path):
    return open_volume(path) if path.exists() else None


def scan_record(scan_dir: Path) -> dict[str, Any]:
    """Everything the report shows of one scan, read from its folder."""
    morph_path, qc_path = scan_dir / "morphology.json", scan_dir / "figures" / "qc.json"
    morph = _read_json(morph_path) if morph_path.exists() else {}
    if qc_path.exists():
        qc = _read_json(qc_path)
    else:
        recon, labels = (
            _open_or_none(scan_dir / "recon.zarr"),
            _open_or_none(scan_dir / "labels.zarr"),
        )
        qc = scan_qc(recon, labels) if recon is not None or labels is not None else {}
    flags = qc_flags(qc, volume_fractions(morph)) + tortuosity_flags(morph)
    missing = [name for name in EXPECTED if not (scan_dir / name).exists()]
    if missing:
        flags.append("missing " + ", ".join(missing))
    figures = sorted(
        (scan_dir / "figures").glob("*.png"),
        key=lambda p: (FIGURE_ORDER.index(p.stem) if p.stem in FIGURE_ORDER else 99, p.name),
    )
    meshes = sorted(p for p in (scan_dir / "meshes").glob("*") if p.suffix in (".ply", ".stl"))
    return {
        "morph": morph,
        "qc": qc,
        "flags": flags,
        "figures": figures,
        "meshes": meshes,
        "ome_zarr": sorted(scan_dir.glob("*.ome.zarr")),
    }


def _qc_columns(qc: Mapping[str, Any]) -> list[Any]:
    cnr = [v for v in (qc.get("cnr") or {}).values() if is_number(v)]
    return [
        qc.get("center"),
        qc.get("ring_metric_before"),
        qc.get("ring_metric_after"),
        qc.get("noise_sigma"),
        min(cnr) if cnr else None,
    ]


def _scan_table(scans: list[str], records: dict, summary: pd.DataFrame | None) -> str:
    extra: list[str] = []
    values: dict[str, dict[str, Any]] = {}
    if summary is not None:
        extra = [c for c in summary.columns if c != "scan_id"]
        for row in summary.to_dict("records"):
            values[row["scan_id"]] = row
    else:
        for scan in scans:
            values[scan] = flatten_numbers(records[scan]["morph"])
        extra = list(dict.fromkeys(k for v in values.values() for k in v))
    header = ["scan", "QC flags", "centre", "ring before", "ring after", "noise σ", "min CNR"]
    rows = []
    for scan in scans:
        flags = records[scan]["flags"]
        flag_html = (
            f'<span class="flag flags" title="{H.esc("; ".join(flags))}">{len(flags)}: '
            f"{H.esc(flags[0])}{' …' if len(flags) > 1 else ''}</span>"
            if flags
            else '<span class="ok">ok</span>'
        )
        link = f'<a href="#scan-{H.esc(scan)}">{H.esc(scan)}</a>'
        row_values = values.get(scan, {})
        rows.append(
            [
                link,
                flag_html,
                *_qc_columns(records[scan]["qc"]),
                *[_clean(row_values.get(c)) for c in extra],
            ]
        )
    return H.table(header + extra, rows, sortable=True, html_columns=(0, 1), table_id="scans")


def _clean(value: Any) -> Any:
    """NaN cells of the summary table become empty."""
    return None if isinstance(value, float) and value != value else value


def _scan_section(scan: str, rec: dict, results_dir: Path, bench: Mapping[str, dict]) -> str:
    parts = [f'<section class="scan" id="scan-{H.esc(scan)}"><h3>{H.esc(scan)}</h3>']
    if rec["flags"]:
        parts.append(
            "<ul>" + "".join(f'<li class="flag">{H.esc(f)}</li>' for f in rec["flags"]) + "</ul>"
        )
    else:
        parts.append('<p class="ok">No QC flags.</p>')
    qc_numbers = flatten_numbers(rec["qc"], max_list=3)
    if qc_numbers:
        parts.append(
            "<h4>Quality checks</h4>" + H.table(["quantity", "value"], list(qc_numbers.items()))
        )
    morph_numbers = flatten_numbers(rec["morph"], max_list=3)
    if morph_numbers:
        parts.append(
            "<h4>Morphology</h4>" + H.table(["quantity", "value"], list(morph_numbers.items()))
        )
    for png in rec["figures"]:
        parts.append(H.figure(png.read_bytes(), f"{scan}: {png.stem.replace('_', ' ')}"))
    if rec["meshes"]:
        rows = [[str(p.relative_to(results_dir)), p.stat().st_size / 2**20] for p in rec["meshes"]]
        parts.append(
            "<h4>Surface meshes (open in ParaView, Avizo, Dragonfly)</h4>"
            + H.table(["file", "MiB"], rows)
        )
    for store in rec["ome_zarr"]:
        rel = H.esc(store.relative_to(results_dir))
        parts.append(
            f"<h4>OME-Zarr</h4><p><code>napari --plugin napari-ome-zarr {rel}</code> "
            f"(or <code>tomosnake view {H.esc(scan)}</code>)</p>"
        )
    if bench:
        parts.append("<h4>Steps</h4>" + _bench_table({scan: bench}, with_scan=False))
    parts.append("</section>")
    return "\n".join(parts)


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _bench_table(bench: Mapping[str, Mapping[str, dict]], with_scan: bool = True) -> str:
    rows = []
    for target, rules in bench.items():
        for rule, b in rules.items():
            row = [rule, b["s"], _hms(b["s"]), b["max_rss_mb"], b["cpu_time_s"], b["jobs"]]
            rows.append([target, *row] if with_scan else row)
    header = ["rule", "wall s", "h:m:s", "max RSS MB", "CPU s", "jobs"]
    return H.table((["scan"] if with_scan else []) + header, rows, sortable=True)


def _provenance_section(prov: Mapping[str, Any], bench: Mapping[str, Mapping[str, dict]]) -> str:
    parts = ['<section id="provenance"><h2>Provenance</h2>']
    if prov:
        head = {k: prov[k] for k in PROVENANCE_HEAD if k in prov}
        if head:
            parts.append(H.render_value(head))
        # per-scan step times are shown from the benchmark files below when those exist
        rest = {k: v for k, v in prov.items() if k not in head and not (k == "steps" and bench)}
        for key, value in rest.items():
            parts.append(f"<h3>{H.esc(key)}</h3>{H.render_value(value)}")
    else:
        parts.append("<p>No provenance record (results/provenance.json) was found.</p>")
    if bench:
        parts.append("<h3>Step durations (Snakemake benchmark files)</h3>" + _bench_table(bench))
    parts.append("</section>")
    return "\n".join(parts)


def _across_section(morphs: Mapping[str, Mapping[str, Any]]) -> str:
    parts = ['<section id="across"><h2>Across scans</h2>']
    png, fits = bruggeman_plot(morphs)
    if png:
        parts.append(H.figure(png, "tortuosity factor versus volume fraction, Bruggeman fit"))
        parts.append(
            H.table(
                ["phase", "β (fit of τ = ε^-β)", "Bruggeman α = 1 + β (D_eff/D = ε^α)", "points"],
                [[p, f["beta"], f["alpha"], f["n_points"]] for p, f in fits.items()],
            )
        )
    else:
        parts.append("<p>No scan has both volume fractions and tortuosity factors yet.</p>")
    for plot, caption in (
        (size_distribution_plot(morphs), "size distributions"),
        (fractions_plot(morphs), "phase volume fractions per scan"),
    ):
        if plot:
            parts.append(H.figure(plot, caption))
    parts.append("</section>")
    return "\n".join(parts)


def build_report(
    results_dir: str | os.PathLike[str],
    out_html: str | os.PathLike[str],
    summary_csv: str | os.PathLike[str] | None = None,
    provenance: dict | None = None,
) -> Path:
    """Write the beamtime's self-contained HTML report from the results folder, atomically.

    ``summary_csv`` defaults to ``results_dir/summary.csv`` (if present); ``provenance``
    defaults to the contents of ``results_dir/provenance.json`` (if present). Step
    durations come from ``results_dir/benchmarks/{rule}/{target}.tsv``.
    """
    results = Path(results_dir)
    if not results.is_dir():
        raise InputError(f"{results}: results folder does not exist")
    summary_path = Path(summary_csv) if summary_csv else results / "summary.csv"
    summary = read_summary(summary_path) if summary_csv or summary_path.exists() else None
    if provenance is None and (results / "provenance.json").exists():
        provenance = _read_json(results / "provenance.json")
    scans = find_scans(results, summary)
    records = {scan: scan_record(results / scan) for scan in scans}
    bench = collect_benchmarks(results, scans)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = f"tomosnake report: {results.resolve().name}"
    sections = [
        f'<section id="scans"><h2>Scans ({len(scans)})</h2>'
        "<p>Click a column header to sort. Flags mark numbers to check before trusting "
        "the morphology.</p>" + _scan_table(scans, records, summary) + "</section>",
        _across_section({s: r["morph"] for s, r in records.items()}),
        '<section id="per-scan"><h2>Per scan</h2>'
        + "".join(_scan_section(s, records[s], results, bench.get(s, {})) for s in scans)
        + "</section>",
        _provenance_section(provenance or {}, bench),
    ]
    nav = "".join(
        f'<a href="#{a}">{t}</a>'
        for a, t in (
            ("scans", "Scans"),
            ("across", "Across scans"),
            ("per-scan", "Per scan"),
            ("provenance", "Provenance"),
        )
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<title>{H.esc(title)}</title><link rel="icon" href="data:,">'
        f"<style>{H.CSS}</style></head><body>"
        f"<header><h1>{H.esc(title)}</h1><p>{len(scans)} scans · generated {now} by "
        f"tomosnake {__version__}</p></header><nav>{nav}</nav><main>"
        + "\n".join(sections)
        + f"</main><script>{H.SORT_JS}</script></body></html>\n"
    )
    out = Path(out_html)
    with atomic_output(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
