"""Quality findings of a scan in words, each with what to do about it.

A :class:`Finding` has a severity: ``fail`` (the scan is left out of across-scan fits and
comparisons), ``warn`` (shown; single flagged values such as a non-percolating tau are
left out of fits on their own) or ``info``. Findings are made as ``warn`` and those whose
code is in :attr:`QCLimits.fail_on` become ``fail``. Inputs are the per-scan JSON records
(``morphology.json``, ``center.json``, ``segment_qc.json``, ``truth_check.json``) and the
QC numbers of ``figures/qc.json``; any may be missing. Limits are :class:`QCLimits`
(report setting ``report.qc``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from tomosnake.config import schema
from tomosnake.errors import ConfigError
from tomosnake.viz.morphology import is_number, tortuosities, volume_fractions

SEVERITIES = ("fail", "warn", "info")
#: a few words per finding code, for tables
SHORT = {
    "center_disagree": "centre methods disagree",
    "low_confidence": "low segmentation confidence",
    "truth_mismatch": "labels differ from the ground truth",
    "non_percolating": "non-percolating",
    "few_sample_voxels": "few voxels in the sample",
    "few_phase_voxels": "few voxels of a phase",
    "tau_spread": "τ varies across sub-volumes",
}


@dataclass(frozen=True)
class Finding:
    """One quality finding: severity, stable code, what was found, what to do."""

    severity: str
    code: str
    message: str
    advice: str = ""

    @property
    def short(self) -> str:
        """A few words naming the finding (tables, left-out lists)."""
        return SHORT.get(self.code, self.code.replace("_", " "))


#: the limits' defaults and meanings: the config schema's ``report.qc``
_QC = schema()["properties"]["report"]["properties"]["qc"]["properties"]


@dataclass(frozen=True)
class QCLimits:
    """Limits of the quality findings (setting ``report.qc``: the schema documents each key
    and holds its default)."""

    min_sample_voxels: int = _QC["min_sample_voxels"]["default"]
    min_phase_voxels: int = _QC["min_phase_voxels"]["default"]
    max_tau_spread: float = _QC["max_tau_spread"]["default"]
    min_mean_confidence: float = _QC["min_mean_confidence"]["default"]
    max_low_confidence_fraction: float = _QC["max_low_confidence_fraction"]["default"]
    max_tilt_deg: float = _QC["max_tilt_deg"]["default"]
    min_truth_iou: float = _QC["min_truth_iou"]["default"]
    max_truth_center_error_px: float = _QC["max_truth_center_error_px"]["default"]
    min_cnr: float = _QC["min_cnr"]["default"]
    fail_on: tuple[str, ...] = tuple(_QC["fail_on"]["default"])

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> QCLimits:
        """Limits from a ``report.qc`` dict; ConfigError names an unknown key."""
        settings = dict(settings or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(f"report.qc: unknown key(s) {unknown}; expected {sorted(known)}")
        if "fail_on" in settings:
            settings["fail_on"] = tuple(settings["fail_on"])
        return cls(**settings)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def morphology_findings(rec: Mapping[str, Any], limits: QCLimits) -> list[Finding]:
    """Non-percolating or unconverged tortuosity, tau spread, too few voxels."""
    out: list[Finding] = []
    sample = rec.get("sample") or {}
    n = sample.get("voxels") if is_number(sample.get("voxels")) else None
    if n is None:
        shape = rec.get("shape")
        n = int(np.prod(shape)) if shape else None
    if n is not None and n < limits.min_sample_voxels:
        out.append(
            Finding(
                "warn",
                "few_sample_voxels",
                f"the sample region holds {n:,} voxels (fewer than "
                f"{limits.min_sample_voxels:,}): fractions and tortuosity describe a small "
                "volume and may not represent the electrode",
                "analyse a larger field of view or report the numbers with their sub-volume "
                "spread (morph sub-volumes)",
            )
        )
    voxels = (rec.get("fractions") or {}).get("voxels") or {}
    for phase, count in voxels.items():
        if is_number(count) and count < limits.min_phase_voxels:
            vf = volume_fractions(rec).get(phase)
            pct = f" ({100 * vf:.2g} % of the sample)" if vf is not None else ""
            out.append(
                Finding(
                    "warn",
                    "few_phase_voxels",
                    f"{phase} has only {int(count):,} voxels{pct}: its surface, sizes and "
                    "tortuosity are not meaningful",
                    f"check that the segmentation finds {phase} at all (histogram, overlay)",
                )
            )
    for phase, per_axis in tortuosities(rec).items():
        for axis, t in per_axis.items():
            if t.problem == "non-percolating":
                out.append(
                    Finding(
                        "warn",
                        "non_percolating",
                        f"{phase} does not percolate along {axis}: no connected path joins the "
                        f"two faces, so τ is infinite; left out of fits and comparisons",
                        f"report {phase} τ along {axis} as not defined; if {phase} should "
                        "connect, check the segmentation of thin necks or use a larger volume",
                    )
                )
            elif t.problem == "solver did not converge":
                out.append(
                    Finding(
                        "warn",
                        "not_converged",
                        f"the tortuosity solver did not converge for {phase} along {axis}; "
                        "τ is left out of fits and comparisons",
                        "rerun the morphology step with a tighter tolerance or more iterations",
                    )
                )
            elif t.problem:
                out.append(
                    Finding(
                        "warn",
                        "tau_flag",
                        f"τ of {phase} along {axis} is flagged ({t.problem}); left out of fits",
                        "see the flag in the morphology record",
                    )
                )
            if t.tau and t.tau_std and t.tau_std / t.tau > limits.max_tau_spread:
                out.append(
                    Finding(
                        "warn",
                        "tau_spread",
                        f"τ of {phase} along {axis} varies by ±{100 * t.tau_std / t.tau:.0f} % "
                        f"across {t.n_subvolumes or 'the'} sub-volumes: the microstructure is "
                        "heterogeneous at this scale or the sub-volumes are below the REV",
                        "give τ with its spread and look at the REV curve; image a larger volume",
                    )
                )
    return out


def center_findings(center: Mapping[str, Any], limits: QCLimits) -> list[Finding]:
    """Centre methods disagreeing, failed methods, a tilted rotation axis."""
    out: list[Finding] = []
    agreement = center.get("agreement") or {}
    methods = center.get("methods") or {}
    if agreement.get("agree") is False:
        values = ", ".join(
            f"{m} {np.nanmedian([v for v in vals if v is not None]):.1f}"
            for m, vals in methods.items()
            if any(v is not None for v in vals)
        )
        out.append(
            Finding(
                "warn",
                "center_disagree",
                f"rotation-centre methods disagree by {_fmt(agreement.get('spread_px', np.nan))}"
                f" px (tolerance {_fmt(agreement.get('tolerance_px', np.nan))} px): {values}; "
                f"used {center.get('used', {}).get('method', '?')} "
                f"({center.get('used', {}).get('reason', '')})",
                "open the centre sweep contact sheet, pick the sharpest slice and set "
                "preprocess.center for this scan in the scan sheet",
            )
        )
    for method, why in (center.get("method_errors") or {}).items():
        out.append(Finding("info", "center_method_failed", f"centre method {method} failed: {why}"))
    fit = center.get("fit") or {}
    tilt = fit.get("tilt_deg")
    if is_number(tilt) and abs(tilt) > limits.max_tilt_deg:
        out.append(
            Finding(
                "warn",
                "axis_tilt",
                f"the rotation axis is tilted by {tilt:.2f}° on the detector (centre drifts "
                f"{fit.get('slope_px_per_row', 0):.3g} px per row; fit rms "
                f"{_fmt(fit.get('rms_px', np.nan))} px)",
                "a per-row centre corrects it in the reconstruction; align the axis at the "
                "beamline for the next scans",
            )
        )
    frc = center.get("frc") or {}
    if is_number(frc.get("resolution_um")) or is_number(frc.get("resolution_px")):
        res = (
            f"{frc['resolution_um']:.3g} µm"
            if is_number(frc.get("resolution_um"))
            else f"{frc['resolution_px']:.3g} px"
        )
        out.append(
            Finding("info", "resolution", f"spatial resolution {res} (Fourier ring correlation, "
                    f"{frc.get('threshold_name', 'half-bit')} threshold)")
        )
    return out


def segment_findings(seg: Mapping[str, Any], limits: QCLimits) -> list[Finding]:
    """Low segmentation confidence, slices to label next, the segmenter's own warnings."""
    out: list[Finding] = []
    per_slice = seg.get("per_slice") or {}
    conf = [c for c in per_slice.get("mean_confidence") or [] if is_number(c)]
    suggested = seg.get("suggested_slices") or []
    label_next = (
        f"label slices z = {', '.join(map(str, suggested))} next and retrain" if suggested else ""
    )
    if conf and float(np.mean(conf)) < limits.min_mean_confidence:
        out.append(
            Finding(
                "warn",
                "low_confidence",
                f"low segmentation confidence: mean class probability {np.mean(conf):.2f} "
                f"(below {limits.min_mean_confidence}) with the {seg.get('method')} segmenter",
                label_next or "add labelled slices of this scan and retrain",
            )
        )
    z = per_slice.get("z") or []
    low = per_slice.get("low_confidence_fraction") or []
    bad = [
        (zi, f) for zi, f in zip(z, low, strict=False)
        if is_number(f) and f > limits.max_low_confidence_fraction
    ]
    if bad:
        worst = sorted(bad, key=lambda p: -p[1])[:5]
        out.append(
            Finding(
                "warn",
                "uncertain_slices",
                f"{len(bad)} slices have more than "
                f"{100 * limits.max_low_confidence_fraction:.0f} % low-confidence voxels "
                f"(worst: {', '.join(f'z = {zi} ({100 * f:.0f} %)' for zi, f in worst)})",
                label_next or "look at these slices in the overlay before trusting the labels",
            )
        )
    for text in seg.get("warnings") or []:
        out.append(Finding("warn", "segment_warning", f"segmentation: {text}"))
    return out


def truth_findings(truth: Mapping[str, Any], limits: QCLimits) -> list[Finding]:
    """Simulated scans: labels and centre compared with the ground truth."""
    out: list[Finding] = []
    iou = truth.get("mean_iou")
    if is_number(iou):
        per = ", ".join(f"{k} {v:.2f}" for k, v in (truth.get("iou") or {}).items() if is_number(v))
        bad = iou < limits.min_truth_iou
        out.append(
            Finding(
                "warn" if bad else "info",
                "truth_mismatch" if bad else "truth_iou",
                f"labels against the ground truth: mean IoU {iou:.2f} ({per})",
                "retrain or change the segmentation method" if bad else "",
            )
        )
    err = truth.get("center_error_px")
    if is_number(err) and abs(err) > limits.max_truth_center_error_px:
        out.append(
            Finding(
                "warn",
                "truth_center",
                f"the found rotation centre is {err:+.2f} px from the true one",
                "check the centre method on this kind of scan (centre sweep)",
            )
        )
    return out


def qc_number_findings(qc: Mapping[str, Any], limits: QCLimits) -> list[Finding]:
    """Findings on the reconstruction QC numbers of ``figures/qc.json``."""
    out: list[Finding] = []
    before, after = qc.get("ring_metric_before"), qc.get("ring_metric_after")
    if is_number(before) and is_number(after) and after > before:
        out.append(
            Finding(
                "warn",
                "ring_rose",
                f"the ring metric rose in preprocessing ({before:.3g} → {after:.3g})",
                "try another preprocess.rings method (sort, all, fw) for this scan",
            )
        )
    center, shape = qc.get("center"), qc.get("shape_zyx")
    if is_number(center) and shape:
        width = qc.get("detector_width") or shape[-1]
        if abs(center - width / 2) > 0.1 * width:
            out.append(
                Finding(
                    "warn",
                    "center_far",
                    f"the rotation centre {center:.1f} is far from the detector middle "
                    f"({width / 2:.1f})",
                    "check the centre sweep; set preprocess.center if it is wrong",
                )
            )
    for pair, value in (qc.get("cnr") or {}).items():
        if is_number(value) and value < limits.min_cnr:
            a, _, b = pair.partition("/")
            out.append(
                Finding(
                    "warn",
                    "low_contrast",
                    f"low grey-value contrast between {a} and {b} (contrast-to-noise ratio "
                    f"{value:.2f} < {limits.min_cnr})",
                    "their boundary depends on the segmenter; consider phase retrieval "
                    "(preprocess.paganin) or a trained segmenter",
                )
            )
    return out


def scan_findings(
    morphology: Mapping[str, Any] | None,
    center: Mapping[str, Any] | None = None,
    segment_qc: Mapping[str, Any] | None = None,
    truth: Mapping[str, Any] | None = None,
    qc: Mapping[str, Any] | None = None,
    limits: QCLimits | None = None,
) -> list[Finding]:
    """All findings of a scan, fails first; codes in ``limits.fail_on`` become fails."""
    limits = limits or QCLimits()
    found: list[Finding] = []
    if morphology is None:
        found.append(Finding("warn", "no_morphology", "no morphology record for this scan"))
    else:
        found += morphology_findings(morphology, limits)
    for record, make in (
        (center, center_findings),
        (segment_qc, segment_findings),
        (truth, truth_findings),
        (qc, qc_number_findings),
    ):
        if record:
            found += make(record, limits)
    found = [
        Finding("fail", f.code, f.message, f.advice)
        if f.code in limits.fail_on and f.severity != "info"
        else f
        for f in found
    ]
    return sorted(found, key=lambda f: SEVERITIES.index(f.severity))


def fails(findings: Sequence[Finding]) -> list[Finding]:
    """The findings that fail a scan."""
    return [f for f in findings if f.severity == "fail"]
