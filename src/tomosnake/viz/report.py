"""The beamtime report: one self-contained HTML file a battery scientist can quote from.

:func:`build_report` reads only the paths it is given (:class:`ScanInputs` per scan). The
page holds, in this order: an overview table of the scans (sortable, QC status); across
scans the Bruggeman fit, series plots and phase fractions, leaving out values flagged
non-percolating and scans failing QC (and naming them); one section per scan with its
morphology table (phases x quantities, units in the headers), interface areas, sizes,
quality findings in words with what to do, figures (SVG plots, image figures, links to
their PNG/SVG files), a WebGL view of its meshes and, collapsed, all its numbers; a
methods paragraph with references; provenance (software, hashes, solver statistics, step
durations). Images and mesh data are embedded; nothing is fetched from the network.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tomosnake import __version__
from tomosnake.errors import InputError
from tomosnake.io import atomic_output
from tomosnake.viz import html as H
from tomosnake.viz.across import across_section, check_series, color_of, phase_order
from tomosnake.viz.findings import QCLimits
from tomosnake.viz.meshes import PREVIEW_BUDGET
from tomosnake.viz.methods import methods_text
from tomosnake.viz.morphology import (
    AXES,
    distributions,
    flatten_numbers,
    interfaces,
    is_number,
    percolating_fractions,
    phases,
    solver_stats,
    specific_surface,
    tortuosities,
    volume_fractions,
)
from tomosnake.viz.scans import Scan, ScanInputs, load_scan
from tomosnake.viz.viewer import VIEWER_CSS, VIEWER_JS, preview_size, viewer_html

__all__ = ["ScanInputs", "build_report"]

#: provenance keys shown first when present
PROVENANCE_HEAD = ("git_commit", "config", "config_sha256", "scan_sheet", "scan_sheet_sha256")
#: scan-sheet columns that are not descriptions of the sample (paths, formats, settings)
SHEET_SKIP = ("scan_id", "path", "format")
SEVERITY_WORDS = {"fail": "fails QC", "warn": "warning", "info": "note"}


def _phase_cell(name: str, order: Sequence[str]) -> H.Td:
    return H.Td(f'<td class="t">{H.swatch(color_of(name, order))}{H.esc(name)}</td>')


def _tau_cell(t: Any, attr: str) -> H.Td:
    """A tortuosity quantity: ∞ if not percolating, † if flagged, ± spread if sub-volumes."""
    if t is None:
        return H.td(None)
    value = getattr(t, attr)
    if t.problem == "non-percolating":
        if attr == "d_rel":
            return H.td(0.0, "0", cls="inf", title="not percolating")
        return H.td(float("inf"), "∞", cls="inf", title="not percolating")
    text = H.esc(H.num(value)) if value is not None else ""
    if attr == "tau" and t.tau_std is not None and value is not None:
        text += f" ± {H.esc(H.num(t.tau_std, 2))}"
    if t.problem:
        text += "†"
    return H.td(value, text, title=t.problem)


def morphology_table(rec: Mapping[str, Any], order: Sequence[str]) -> str:
    """Phases as rows, quantities as columns (units in the headers), and footnotes."""
    names = phases(rec)
    vf = volume_fractions(rec)
    ssa, ssa_unit = specific_surface(rec)
    perc = percolating_fractions(rec)
    taus = tortuosities(rec)
    axes = [a for a in AXES if any(a in perc.get(p, {}) or a in taus.get(p, {}) for p in names)]
    axes += sorted({a for p in names for a in taus.get(p, {})} - set(axes))
    single = [("volume fraction", lambda p: H.td(vf.get(p)))]
    if ssa:
        single.append((f"specific surface ({ssa_unit})", lambda p: H.td(ssa.get(p))))
    grouped = []
    if perc:
        grouped.append(("percolating fraction", lambda p, a: H.td(perc.get(p, {}).get(a))))
    if taus:
        grouped += [
            ("tortuosity factor τ", lambda p, a: _tau_cell(taus.get(p, {}).get(a), "tau")),
            ("D<sub>eff</sub>/D<sub>0</sub>",
             lambda p, a: _tau_cell(taus.get(p, {}).get(a), "d_rel")),
            ("MacMullin number N<sub>M</sub>",
             lambda p, a: _tau_cell(taus.get(p, {}).get(a), "macmullin")),
        ]
    if not axes:
        grouped = []
    top = '<th class="t" rowspan="2">phase</th>' + "".join(
        f'<th rowspan="2">{H.esc(h)}</th>' for h, _ in single
    ) + "".join(f'<th class="g" colspan="{len(axes)}">{h}</th>' for h, _ in grouped)
    sub = "".join(f"<th>{a}</th>" for _ in grouped for a in axes)
    header = f"<tr>{top}</tr>" + (f"<tr>{sub}</tr>" if sub else "")
    rows = [
        [_phase_cell(p, order), *[f(p) for _, f in single],
         *[f(p, a) for _, f in grouped for a in axes]]
        for p in names
    ]
    notes = []
    all_t = [t for per in taus.values() for t in per.values()]
    if any(t.problem == "non-percolating" for t in all_t):
        notes.append("∞: the phase does not percolate along that axis (no connected path "
                     "between the two faces); D_eff/D_0 is then 0")
    if any(t.problem and t.problem != "non-percolating" for t in all_t):
        notes.append("†: flagged (hover for why); left out of fits")
    subs = [t for t in all_t if t.tau_std is not None]
    if subs:
        n = subs[0].n_subvolumes
        notes.append(f"τ ± standard deviation over {n or 'several'} sub-volumes")
    if all_t:
        notes.append("D_eff/D_0 = ε/τ; N_M = τ/ε (ε: the phase's volume fraction)")
    return H.table([], rows, header_html=header) + (
        f'<p class="note">{H.esc("; ".join(notes))}.</p>' if notes else ""
    )


def interface_tables(rec: Mapping[str, Any], order: Sequence[str]) -> str:
    """Phase x phase tables of interface area and specific interface area."""
    names = phases(rec)
    parts = []
    for key, label in (("specific", "specific interface area"), ("area", "interface area")):
        pairs, unit = interfaces(rec)[key]
        if not pairs:
            continue

        def value(a: str, b: str, pairs=pairs) -> H.Td:
            if a == b:
                return H.Td('<td class="t">–</td>')
            return H.td(pairs.get((a, b), pairs.get((b, a))))

        header = "<tr><th class=\"t\"></th>" + "".join(
            f"<th>{H.swatch(color_of(b, order))}{H.esc(b)}</th>" for b in names
        ) + "</tr>"
        rows = [[_phase_cell(a, order), *[value(a, b) for b in names]] for a in names]
        parts.append(
            f"<div><p class=\"note\">{H.esc(label)} ({H.esc(unit)})</p>"
            + H.table([], rows, header_html=header) + "</div>"
        )
    return '<div class="row">' + "".join(parts) + "</div>" if parts else ""


def sizes_table(rec: Mapping[str, Any], order: Sequence[str]) -> str:
    """Percentiles of the size distributions, one row per phase and kind."""
    rows = []
    for d in distributions(rec):
        what = f"{d.quantity} ({d.weighting}-weighted)"
        rows.append([_phase_cell(d.phase, order), what, d.d10, d.d50, d.d90, d.mean,
                     d.n_particles])
    if not rows:
        return ""
    unit = distributions(rec)[0].unit
    header = ["phase", "quantity", f"d10 ({unit})", f"median d50 ({unit})", f"d90 ({unit})",
              f"mean ({unit})", "particles"]
    return H.table(header, rows)


def sample_sentence(rec: Mapping[str, Any]) -> str:
    """Where the metrics were computed and at which voxel size, in words."""
    sample = rec.get("sample") or {}
    vs = rec.get("voxel_size_um")
    size = f"voxel size {vs:g} µm" if is_number(vs) else "no voxel size: lengths in voxels"
    shape = " × ".join(str(n) for n in rec.get("shape") or [])
    if sample.get("mode") not in (None, "none"):
        return (
            f"Computed inside the sample region ({sample['mode']}, {sample.get('voxels', 0):,} "
            f"voxels, {100 * sample.get('fraction_of_volume', 1):.0f} % of the {shape} volume); "
            f"{size}."
        )
    return f"Computed over the whole {shape} voxel volume; {size}."


def findings_table(scan: Scan) -> str:
    """The quality findings in words, each with what to do."""
    if not scan.findings:
        return '<p class="ok">No quality problems found.</p>'
    rows = [
        [H.Td(f'<td class="t"><span class="sev-{f.severity}">'
              f"{SEVERITY_WORDS[f.severity]}</span></td>"), f.message, f.advice]
        for f in scan.findings
    ]
    return H.table(["", "finding", "what to do"], rows)


def _rel(path: Path, out_dir: Path) -> str:
    return Path(os.path.relpath(path.resolve(), out_dir.resolve())).as_posix()


def figures_html(scan: Scan, out_dir: Path) -> str:
    """The scan's figures: plots as embedded SVG, images as light PNG/JPEG, file links."""
    parts = []
    for f in scan.figures:
        links = [("PNG", _rel(f["png"], out_dir))]
        if f.get("svg"):
            links.append(("SVG", _rel(f["svg"], out_dir)))
        width = int(float(f.get("width_in") or 7.2) * 150)
        if f["kind"] == "plot" and f.get("svg"):
            src = H.data_uri(f["svg"].read_bytes(), "image/svg+xml")
        else:
            data, mime = H.web_image(f["png"].read_bytes())
            src = H.data_uri(data, mime)
        parts.append(H.figure(src, f.get("caption") or f["name"], f["kind"], width, links,
                              fig_id=f"fig-{scan.id}-{f['name']}"))
    return "".join(parts)


def viewer_part(scan: Scan, budget: int) -> str:
    """The embedded 3-D view of the scan's meshes (within ``budget`` bytes), or a note."""
    if scan.preview is None:
        return ""
    size = preview_size(scan.preview)
    head = (
        f"<h4>3-D view</h4><p class=\"note\">Decimated phase surfaces (marching-cubes step "
        f"{scan.preview.get('step', '?')} voxels), {size / 2**20:.2f} MiB embedded (budget "
        f"{budget / 2**20:.2f} MiB per scan).</p>"
    )
    if size > budget:
        return head + "<p>The mesh preview exceeds the budget and is not embedded.</p>"
    return head + viewer_html(scan.id, scan.preview)


def files_part(scan: Scan, out_dir: Path) -> str:
    """Meshes, OME-Zarr and the morphology record as a download."""
    parts = []
    if scan.plys:
        rows = [[_rel(p, out_dir), p.stat().st_size / 2**20] for p in scan.plys]
        parts.append("<p>Full surface meshes for ParaView, napari, Avizo, Dragonfly (binary PLY, "
                     "µm):</p>" + H.table(["file", "MiB"], rows))
    if scan.inputs.ome_zarr is not None and Path(scan.inputs.ome_zarr).exists():
        rel = H.esc(_rel(Path(scan.inputs.ome_zarr), out_dir))
        parts.append(f"<p>Multiscale volume and labels: <code>napari --plugin napari-ome-zarr "
                     f"{rel}</code> (or <code>tomosnake view {H.esc(scan.id)}</code>)</p>")
    if scan.morph is not None:
        data = json.dumps(scan.morph, indent=1).encode()
        parts.append(
            f'<p><a download="{H.esc(scan.id)}_morphology.json" '
            f'href="{H.data_uri(data, "application/json")}">Download morphology.json</a> '
            "(every number of this scan).</p>"
        )
    return "<h4>Files</h4>" + "".join(parts) if parts else ""


def all_numbers(scan: Scan) -> str:
    """Every number of the scan's records, collapsed (dotted key paths live only here)."""
    body = []
    for name, rec in (
        ("morphology.json", scan.morph),
        ("center.json", scan.center),
        ("segment_qc.json", scan.segment_qc),
        ("truth_check.json", scan.truth),
        ("figures/qc.json", scan.qc),
    ):
        if rec:
            rows = list(flatten_numbers(rec, max_list=3).items())
            body.append(f"<p><b>{H.esc(name)}</b></p>" + H.table(["key", "value"], rows))
    if not body:
        return ""
    return H.details(f"All numbers of {scan.id}", "".join(body), cls="allnum")


def _sheet_line(scan: Scan) -> str:
    row = {k: v for k, v in scan.inputs.sheet_row.items()
           if k not in SHEET_SKIP and "." not in k and v not in (None, "")}
    return (
        '<p class="note">' + H.esc(", ".join(f"{k}: {v}" for k, v in row.items())) + "</p>"
        if row else ""
    )


def scan_section(scan: Scan, order: Sequence[str], out_dir: Path, budget: int) -> str:
    """One scan's section (see the module docstring for its order)."""
    status = (
        '<span class="sev-fail">fails QC</span> left out of across-scan fits and comparisons'
        if scan.failed else ""
    )
    parts = [f'<section class="scan" id="scan-{H.esc(scan.id)}"><h3>{H.esc(scan.id)} {status}'
             "</h3>", _sheet_line(scan)]
    rec = scan.morph
    if rec is not None:
        parts += [
            "<h4>Morphology</h4>", f'<p class="note">{H.esc(sample_sentence(rec))}</p>',
            morphology_table(rec, order),
        ]
        inter = interface_tables(rec, order)
        if inter:
            parts.append("<h4>Interfaces</h4>" + inter)
        sizes = sizes_table(rec, order)
        if sizes:
            parts.append("<h4>Sizes</h4>" + sizes)
    parts += ["<h4>Quality checks</h4>", findings_table(scan)]
    fig = figures_html(scan, out_dir)
    if fig:
        parts.append("<h4>Figures</h4>" + fig)
    parts += [viewer_part(scan, budget), files_part(scan, out_dir), all_numbers(scan),
              "</section>"]
    return "\n".join(p for p in parts if p)


def _status_cell(scan: Scan) -> H.Td:
    if scan.failed:
        text = "fails QC: " + "; ".join(f.short for f in scan.failed)
        return H.Td(f'<td class="t"><span class="sev-fail">{H.esc(text)}</span></td>')
    warns = [f for f in scan.findings if f.severity == "warn"]
    if warns:
        return H.Td(f'<td class="t" title="{H.esc("; ".join(f.message for f in warns))}">'
                    f'<span class="sev-warn">{len(warns)} warning{"s" * (len(warns) > 1)}'
                    "</span></td>")
    return H.Td('<td class="t"><span class="ok">passes</span></td>')


def overview_table(scans: Sequence[Scan], order: Sequence[str]) -> str:
    """One sortable row per scan: QC status, sheet columns, main numbers per phase."""
    sheet_cols = list(dict.fromkeys(
        k for s in scans for k in s.inputs.sheet_row if k not in SHEET_SKIP and "." not in k
    ))
    axes = [a for a in AXES if any(a in per for s in scans if s.morph
                                   for per in tortuosities(s.morph).values())]
    unit = next((specific_surface(s.morph)[1] for s in scans if s.morph), "µm⁻¹") or "µm⁻¹"
    header = ["scan", "QC", *sheet_cols]
    for p in order:
        header += [f"{p} volume fraction", f"{p} specific surface ({unit})"]
        header += [f"{p} τ {a}" for a in axes]
    has_iou = any(s.truth for s in scans)
    if has_iou:
        header.append("mean IoU vs ground truth")
    rows, classes = [], []
    for s in scans:
        rec = s.morph or {}
        vf, ssa, taus = volume_fractions(rec), specific_surface(rec)[0], tortuosities(rec)
        row: list[Any] = [
            H.Td(f'<td class="t"><a href="#scan-{H.esc(s.id)}">{H.esc(s.id)}</a></td>'),
            _status_cell(s),
            *[s.inputs.sheet_row.get(c) for c in sheet_cols],
        ]
        for p in order:
            row += [H.td(vf.get(p)), H.td(ssa.get(p))]
            row += [_tau_cell(taus.get(p, {}).get(a), "tau") for a in axes]
        if has_iou:
            row.append(H.td((s.truth or {}).get("mean_iou")))
        rows.append(row)
        classes.append("failed" if s.failed else "")
    return H.table(header, rows, sortable=True, table_id="scans", row_classes=classes)


def methods_section(scans: Sequence[Scan], provenance: Mapping[str, Any], fitted: bool) -> str:
    """The methods paragraph(s), the references used, and every setting per scan."""
    m = methods_text(
        [(s.id, s.inputs.settings, s.center, s.morph) for s in scans],
        versions=provenance.get("versions"),
        bruggeman_fit=fitted,
        commit=provenance.get("git_commit"),
    )
    parts = ['<section id="methods" class="methods"><h2>Methods</h2>']
    for ids, text in m.paragraphs:
        who = "" if len(m.paragraphs) == 1 else f"<b>{H.esc(', '.join(ids))}.</b> "
        parts.append(f"<p>{who}{H.esc(text)}</p>")
    if m.closing:
        parts.append(f"<p>{H.esc(m.closing)}</p>")
    if m.references:
        refs = "".join(
            f"<li>{H.esc(r.text)}" + (f" doi:{H.esc(r.doi)}" if r.doi else "") + "</li>"
            for r in m.references
        )
        parts.append(f'<h3>References</h3><ol class="refs">{refs}</ol>')
    stages = list(dict.fromkeys(st for s in scans for st in s.inputs.settings))
    rows = []
    for stage in stages:
        keys = list(dict.fromkeys(k for s in scans for k in s.inputs.settings.get(stage, {})))
        for key in keys:
            values = [s.inputs.settings.get(stage, {}).get(key) for s in scans]
            rows.append([stage, key, *[json.dumps(v) if isinstance(v, dict | list) else v
                                       for v in values]])
    if rows:
        parts.append("<h3>Settings per scan</h3>"
                     + H.table(["stage", "setting", *[s.id for s in scans]], rows))
    parts.append("</section>")
    return "\n".join(parts)


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def provenance_section(scans: Sequence[Scan], prov: Mapping[str, Any]) -> str:
    """Software, input hashes, tortuosity solver statistics, step durations."""
    parts = ['<section id="provenance"><h2>Provenance</h2>']
    head = {k: prov[k] for k in PROVENANCE_HEAD if k in prov}
    if head:
        parts.append(H.render_value(head))
    bench = any(s.bench for s in scans)
    for key, value in prov.items():
        if key not in head and not (key == "steps" and bench):
            parts.append(f"<h3>{H.esc(key)}</h3>{H.render_value(value)}")
    if not prov:
        parts.append("<p>No provenance record was given.</p>")
    solver = [[s.id, r["phase"], r["axis"], r["iterations"], r["seconds"], r["converged"],
               r["backend"]] for s in scans if s.morph for r in solver_stats(s.morph)]
    if solver:
        parts.append("<h3>Tortuosity solver</h3>" + H.table(
            ["scan", "phase", "axis", "iterations", "seconds", "converged", "backend"], solver,
            sortable=True))
    rows = [[s.id, rule, b["s"], _hms(b["s"]), b["max_rss_mb"], b["cpu_time_s"], b["jobs"]]
            for s in scans for rule, b in s.bench.items()]
    if rows:
        parts.append("<h3>Step durations (Snakemake benchmark files)</h3>" + H.table(
            ["scan", "rule", "wall s", "h:m:s", "max RSS MB", "CPU s", "jobs"], rows,
            sortable=True))
    parts.append("</section>")
    return "\n".join(parts)


def build_report(
    out_path: str | os.PathLike[str],
    scans: Sequence[ScanInputs],
    summary_csv: str | os.PathLike[str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    series: Mapping[str, Any] | None = None,
    title: str = "tomosnake report",
    qc: Mapping[str, Any] | None = None,
    viewer_budget: int = PREVIEW_BUDGET,
) -> Path:
    """Write the self-contained HTML report to ``out_path`` (atomically) and return its path.

    ``scans``: one :class:`ScanInputs` per scan, in display order. ``summary_csv``: the
    beamtime table, offered as a download. ``provenance``: dict (versions, git commit,
    hashes...). ``series``: ``{"group_by": column, "order_by": column, "label": x-axis
    label}`` of the scan sheet, or None. ``qc``: limits of :class:`QCLimits` (setting
    ``report.qc``). ``viewer_budget``: largest mesh preview embedded per scan (bytes).
    """
    if not scans:
        raise InputError(f"{out_path}: no scans to report")
    ids = [s.scan_id for s in scans]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise InputError(f"{out_path}: scan ids repeat: {repeated}")
    limits = QCLimits.from_settings(qc)
    series = check_series(series)
    provenance = dict(provenance or {})
    loaded = [load_scan(s, limits) for s in scans]
    order = phase_order(loaded)
    out = Path(out_path)
    out_dir = out.parent
    across, fitted = across_section(loaded, series)
    summary_link = ""
    if summary_csv is not None:
        try:
            data = Path(summary_csv).read_bytes()
        except OSError as exc:
            raise InputError(f"{summary_csv}: cannot read the summary table ({exc})") from exc
        summary_link = (
            f' <a download="summary.csv" href="{H.data_uri(data, "text/csv")}">Download '
            "summary.csv</a> (one row per scan, every summary number).</p>"
        )
    n_failed = sum(bool(s.failed) for s in loaded)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections = [
        f'<section id="scans"><h2>Scans ({len(loaded)})</h2><p>Click a column header to sort. '
        f"{n_failed} scan(s) fail quality control and are left out of the comparisons below."
        + (summary_link or "</p>") + overview_table(loaded, order) + "</section>",
        across,
        '<section id="per-scan"><h2>Per scan</h2>'
        + "".join(scan_section(s, order, out_dir, viewer_budget) for s in loaded)
        + "</section>",
        methods_section(loaded, provenance, fitted),
        provenance_section(loaded, provenance),
    ]
    nav = "".join(
        f'<a href="#{a}">{t}</a>'
        for a, t in (("scans", "Scans"), ("across", "Across scans"), ("per-scan", "Per scan"),
                     ("methods", "Methods"), ("provenance", "Provenance"))
    )
    viewer_js = f"<script>{VIEWER_JS}</script>" if any(s.preview for s in loaded) else ""
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<title>{H.esc(title)}</title><link rel="icon" href="data:,">'
        f"<style>{H.CSS}{VIEWER_CSS}</style></head><body>"
        f"<header><h1>{H.esc(title)}</h1><p>{len(loaded)} scans · generated {now} by "
        f"tomosnake {__version__}</p></header><nav>{nav}</nav><main>"
        + "\n".join(sections)
        + f"</main><script>{H.SORT_JS}{H.LINK_JS}</script>{viewer_js}</body></html>\n"
    )
    with atomic_output(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out

