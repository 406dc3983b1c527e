"""What the report gets per scan (:class:`ScanInputs`) and what it reads from it (:class:`Scan`).

The report reads only the paths named here; a path that is None or does not exist
leaves its part of the report out (older runs, Otsu segmentation without confidence...),
a file that exists but cannot be read raises :class:`~tomosnake.errors.InputError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tomosnake.errors import InputError
from tomosnake.viz.benchmarks import sum_benchmarks
from tomosnake.viz.findings import Finding, QCLimits, fails, scan_findings
from tomosnake.viz.meshes import PREVIEW_SCHEMA
from tomosnake.viz.morphology import read_json, read_morphology

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class ScanInputs:
    """The files of one scan that the report shows (any may be None or missing).

    ``sheet_row``: the scan's scan-sheet row (column -> value; series are grouped and
    ordered by its columns). ``settings``: the scan's merged settings ``{stage: {key:
    value}}`` (methods paragraph). ``figures_dir``: what :func:`tomosnake.viz.scan_figures`
    wrote (``figures.json``, ``qc.json``, PNG/SVG). ``meshes_dir``: what
    :func:`tomosnake.viz.export_meshes` wrote (``*.ply``, ``preview.json``).
    ``benchmarks``: Snakemake benchmark TSVs of the scan's jobs, ``.../{rule}/{job}.tsv``.
    """

    scan_id: str
    morphology_json: PathLike | None = None
    sheet_row: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    center_json: PathLike | None = None
    segment_qc_json: PathLike | None = None
    truth_check_json: PathLike | None = None
    figures_dir: PathLike | None = None
    meshes_dir: PathLike | None = None
    ome_zarr: PathLike | None = None
    benchmarks: Sequence[PathLike] = ()


@dataclass
class Scan:
    """One scan's records as read for the report."""

    inputs: ScanInputs
    morph: dict[str, Any] | None
    center: dict[str, Any] | None
    segment_qc: dict[str, Any] | None
    truth: dict[str, Any] | None
    qc: dict[str, Any] | None
    findings: list[Finding]
    figures: list[dict[str, Any]]
    preview: dict[str, Any] | None
    plys: list[Path]
    bench: dict[str, dict[str, Any]]

    @property
    def id(self) -> str:
        """The scan id."""
        return self.inputs.scan_id

    @property
    def failed(self) -> list[Finding]:
        """Findings that leave this scan out of across-scan fits and comparisons."""
        return fails(self.findings)


def _existing(path: PathLike | None) -> Path | None:
    return Path(path) if path is not None and Path(path).exists() else None


def _json(path: PathLike | None, what: str) -> dict[str, Any] | None:
    p = _existing(path)
    return read_json(p, what) if p is not None else None


def _figures(folder: Path | None) -> list[dict[str, Any]]:
    """Manifest entries (``figures.json``) with absolute ``png``/``svg`` paths.

    A folder without a manifest (older runs) contributes its PNGs as images.
    """
    if folder is None:
        return []
    manifest = folder / "figures.json"
    if not manifest.exists():
        return [
            {"name": p.stem, "kind": "image", "caption": p.stem.replace("_", " "), "png": p,
             "svg": None, "width_in": 7.2}
            for p in sorted(folder.glob("*.png"))
        ]
    entries = read_json(manifest, "figure list").get("figures")
    if not isinstance(entries, list):
        raise InputError(f"{manifest}: 'figures' must be a list")
    out = []
    for e in entries:
        png = folder / e["png"]
        if png.exists():
            svg = folder / e["svg"] if e.get("svg") else None
            out.append({**e, "png": png, "svg": svg if svg and svg.exists() else None})
    return out


def _preview(folder: Path | None) -> dict[str, Any] | None:
    path = folder / "preview.json" if folder is not None else None
    if path is None or not path.exists():
        return None
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable mesh preview ({exc})") from exc
    if not isinstance(rec, dict) or rec.get("schema") != PREVIEW_SCHEMA:
        raise InputError(f"{path}: not a mesh preview (schema {PREVIEW_SCHEMA})")
    return rec


def load_scan(inputs: ScanInputs, limits: QCLimits) -> Scan:
    """Read every record of a scan that exists and derive its quality findings."""
    morph_path = _existing(inputs.morphology_json)
    morph = read_morphology(morph_path) if morph_path is not None else None
    center = _json(inputs.center_json, "centre record")
    seg = _json(inputs.segment_qc_json, "segmentation QC record")
    truth = _json(inputs.truth_check_json, "truth check")
    figures_dir = _existing(inputs.figures_dir)
    qc = _json(figures_dir / "qc.json", "QC numbers") if figures_dir is not None else None
    meshes_dir = _existing(inputs.meshes_dir)
    bench_paths = [p for p in map(_existing, inputs.benchmarks) if p is not None]
    return Scan(
        inputs=inputs,
        morph=morph,
        center=center,
        segment_qc=seg,
        truth=truth,
        qc=qc,
        findings=scan_findings(morph, center, seg, truth, qc, limits),
        figures=_figures(figures_dir),
        preview=_preview(meshes_dir),
        plys=sorted(meshes_dir.glob("*.ply")) if meshes_dir is not None else [],
        bench=sum_benchmarks(bench_paths),
    )
