"""Rotation-centre analysis: several methods at several heights, their agreement, the axis tilt.

:func:`analyse_center` is what the workflow's ``center`` job runs on a few bands of rows
(:func:`center_rows`) of a prepared, stripe-cleaned scan. It returns the ``center.json``
record (schema ``tomosnake.center/1``):

- **Methods**, at every height (band of rows averaged): ``vo`` (Vo's Fourier double-wedge
  metric, :func:`~tomosnake.preprocess.center.find_center_vo`), ``pc`` (phase correlation of
  data 180 degrees apart: for 360-degree scans their two halves, for 180-degree scans the
  projection pair 180 degrees apart if one exists), ``sharpness`` (trial reconstructions
  around the others' estimate, the centre whose slice is sharpest:
  :func:`~tomosnake.recon.sweep.sharpness`) and, for 360-degree scans, ``360`` (mirrored
  overlap of the two halves, the only one that works with the axis near the detector edge).
  Vo's and phase correlation look at the sinogram, sharpness at the reconstruction: they
  fail in different ways.
- **Agreement**: the spread of the methods at each height; the scan is flagged when it
  exceeds ``tolerance_px``.
- **Choice**: a given centre is used as given; ``method="auto"`` takes the median of the
  methods when they agree or when three or more ran (one failure is outvoted); with two that
  disagree, the sharpness centre (it judges the reconstruction itself) or, for a half
  acquisition, the overlap centre; a named method is used as asked. ``used.reason`` says
  which and why.
- **Tilt**: the chosen centres against height are fitted by a line; ``fit.kind`` is
  ``constant`` when the line moves less than a quarter of the tolerance over the detector or
  its slope is within two standard errors of zero (scatter, not tilt),
  ``line`` when it fits (rms <= tolerance / 2) or when the methods disagree (the scatter is
  then the estimates', not the axis'), else ``per_row`` (interpolated between heights).
  ``per_row`` gives every detector row's centre (None when constant).
- **Half acquisition** (360-degree scans with the axis near an edge) as the preprocessing
  decided it before: stitched when the ``360`` centre is more than a quarter of the width from
  the middle (or when asked). ``center`` is then on the stitched detector (its middle) and
  ``center_input_detector`` (and ``per_row_input_detector`` for a tilted axis) on the raw one.
- Optional **sweep** (slices at a range of centres, :mod:`tomosnake.recon.sweep`) and **FRC**
  resolution (:mod:`tomosnake.recon.frc`) at the middle height.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tomosnake.errors import ConfigError, InputError
from tomosnake.preprocess.center import find_center, find_center_pc, half_pair, is_360, theta_span

log = logging.getLogger("tomosnake")

SCHEMA = "tomosnake.center/1"
METHODS = ("auto", "vo", "pc", "sharpness", "360")
#: sweep "auto": half-width and step (px) around the chosen centre
AUTO_SWEEP = (5.0, 0.5)
TILTS = ("auto", "none", "line", "per_row")
#: a 360-degree scan is a half acquisition if its axis is farther than this x width from the middle
HALF_ACQ_OFFSET = 0.25
#: sharpness search: columns of the coarse (binned) search, candidates each side, fine step
_COARSE_COLS, _COARSE_HALF, _FINE_COLS = 512, 8, 1024


def center_rows(n_rows: int, heights: int = 5, band: int = 3) -> list[int]:
    """Detector rows the centre analysis wants: ``band`` adjacent rows at ``heights`` heights.

    Heights sit at (i + 0.5) / heights of the detector (10 %, 30 %, ... 90 % for 5), so a tilt
    is measured over 80 % of the height. Small detectors give fewer, shorter bands, always
    separated by at least one row (adjacent rows form one band in :func:`analyse_center`).
    """
    if n_rows < 1:
        raise InputError(f"a scan needs at least one detector row, got {n_rows}")
    heights = max(1, min(heights, (n_rows + 1) // 2))  # bands never touch
    band = max(1, min(band, n_rows // heights - 1))
    rows: set[int] = set()
    for i in range(heights):
        mid = int((i + 0.5) * n_rows / heights)
        lo = min(max(0, mid - band // 2), n_rows - band)
        rows.update(range(lo, lo + band))
    return sorted(rows)


def _bands(sinos: Mapping[int, np.ndarray], n_theta: int) -> list[tuple[float, np.ndarray]]:
    """Group rows into bands of adjacent rows: (mean height, averaged sinogram (angle, x))."""
    if not sinos:
        raise InputError("centre analysis needs at least one sinogram")
    rows = sorted(int(z) for z in sinos)
    groups: list[list[int]] = [[rows[0]]]
    for z in rows[1:]:
        if z == groups[-1][-1] + 1:
            groups[-1].append(z)
        else:
            groups.append([z])
    out = []
    for g in groups:
        arrs = [np.asarray(sinos[z], dtype=np.float32) for z in g]
        arrs = [a if a.ndim == 2 else a.mean(axis=1) for a in arrs]
        shapes = {a.shape for a in arrs}
        if len(shapes) != 1 or arrs[0].shape[0] != n_theta:
            raise InputError(f"sinograms of rows {g} have shapes {sorted(shapes)}; expected "
                             f"({n_theta}, x) like theta")
        s = np.mean(arrs, axis=0)
        if not np.all(np.isfinite(s)):
            raise InputError(f"sinograms of rows {g} hold NaN or inf values")
        out.append((float(np.mean(g)) + 0.5, s))
    return out


def _pc_180(sino: np.ndarray, theta: np.ndarray) -> float:
    """Phase correlation of the projection pair 180 degrees apart in a 180-degree scan."""
    step = float(np.median(np.diff(np.sort(theta)))) if theta.size > 1 else np.pi
    i = int(np.argmin(theta))
    j = int(np.argmin(np.abs(theta - (theta[i] + np.pi))))
    miss = abs(theta[j] - theta[i] - np.pi)
    if miss > 0.5 * step:
        raise InputError(f"no projection pair 180 deg apart (nearest "
                         f"{np.degrees(theta[j] - theta[i]):.3f} deg)")
    return find_center_pc(sino[i][None], sino[j][None])


def _method_value(name: str, sino: np.ndarray, theta: np.ndarray) -> float:
    if name == "vo":
        return find_center(sino, theta, "vo")
    if name == "360":
        return find_center(sino, theta, "360")
    if is_360(theta):
        return find_center_pc(*half_pair(sino, theta))
    return _pc_180(sino, theta)


def _binned(sino: np.ndarray, b: int) -> np.ndarray:
    if b == 1:
        return sino
    nb = sino.shape[1] // b
    return sino[:, : nb * b].reshape(sino.shape[0], nb, b).mean(axis=2)


def _best(cands: np.ndarray, metric: Sequence[float]) -> float:
    """Maximum of a sampled metric, refined by a parabola through it and its neighbours."""
    m = -np.asarray(metric, dtype=np.float64)
    k = int(np.argmin(m))
    if 0 < k < m.size - 1:
        y0, y1, y2 = m[k - 1 : k + 2]
        den = y0 - 2 * y1 + y2
        if den > 0:
            return float(cands[k] + 0.5 * (y0 - y2) / den * (cands[1] - cands[0]))
    return float(cands[k])


def sharpness_center(sino: np.ndarray, theta: np.ndarray, guess: float,
                     search_px: float | None = None, half_acquisition: bool = False,
                     device: str = "auto") -> float:
    """Centre whose reconstruction is sharpest (highest :func:`~tomosnake.recon.sweep.sharpness`).

    A coarse search over ``guess +- search_px`` (default 8 binned pixels, 3 for a half
    acquisition) on the sinogram binned to <= 512 columns, then a fine one over +- one coarse
    step at <= 1024 columns in quarter-pixel steps, each refined by a parabola.
    ``half_acquisition``: each candidate is a centre on the raw 360-degree detector, stitched
    before reconstruction.
    """
    from tomosnake.recon.sweep import center_sweep

    n = sino.shape[1]
    c = float(guess)
    b = max(1, int(np.ceil(n / _COARSE_COLS)))
    # half acquisition: +-3 coarse pixels around the overlap centre (farther candidates shrink
    # the region every stitching covers, and the score with it)
    half = ((3 if half_acquisition else _COARSE_HALF) * b if search_px is None
            else float(search_px))
    for cols, lo_hi, step in ((_COARSE_COLS, half, float(b)), (_FINE_COLS, float(b), None)):
        b = max(1, int(np.ceil(n / cols)))
        step = step or 0.25 * b
        cands = c + np.arange(-lo_hi, lo_hi + step / 2, step)
        if half_acquisition:
            cands = cands[(cands > 1) & (cands < n - 1)]
        else:
            cands = cands[(cands > 0.25 * n) & (cands < 0.75 * n)]
        if cands.size == 0:
            raise InputError(f"no candidate centres near {c:.1f} inside the detector")
        # on a detector binned by b, the centre c sits at c / b
        _, metric = center_sweep(_binned(sino, b), theta, cands / b,
                                 half_acquisition=half_acquisition, device=device)
        c = _best(cands, metric)
    return round(c, 3)


def _fit(z: np.ndarray, c: np.ndarray, n_rows: int, tilt: str, tol: float,
         trusted: bool) -> dict[str, Any]:
    """Line fit of centres ``c`` at heights ``z``; kind chosen by ``tilt`` (see module doc).

    ``trusted``: the methods agree, so a poor line fit is a real bend of the axis path
    (``per_row``), not scatter of the estimates (then the line is kept).
    """
    mid = n_rows / 2.0
    if z.size >= 2:
        slope, intercept = np.polyfit(z - mid, c, 1)
        resid = intercept + slope * (z - mid) - c
        rms = float(np.sqrt(np.mean(resid**2)))
        # standard error of the slope (0 with two heights: a line through two points)
        dof = max(z.size - 2, 1)
        se = float(np.sqrt(np.sum(resid**2) / dof / np.sum((z - z.mean()) ** 2)))
    else:
        slope, intercept, rms, se = 0.0, float(c[0]), 0.0, 0.0
    if tilt == "auto":
        if abs(slope) * n_rows / 2 < tol / 4 or z.size < 2 or abs(slope) < 2 * se:
            kind = "constant"
        elif rms <= tol / 2 or z.size < 3 or not trusted:
            kind = "line"
        else:
            kind = "per_row"
    else:
        kind = {"none": "constant", "line": "line", "per_row": "per_row"}[tilt]
    if kind == "constant":
        intercept, slope = float(np.median(c)), 0.0
        rms = float(np.sqrt(np.mean((c - intercept) ** 2)))
    return {"kind": kind, "slope_px_per_row": float(slope), "intercept_px": float(intercept),
            "rms_px": rms, "tilt_deg": float(np.degrees(np.arctan(slope)))}


def _per_row(fit: Mapping[str, Any], z: np.ndarray, c: np.ndarray, n_rows: int) -> np.ndarray:
    rows = np.arange(n_rows) + 0.5
    if fit["kind"] == "per_row":
        return np.interp(rows, z, c)
    return fit["intercept_px"] + fit["slope_px_per_row"] * (rows - n_rows / 2.0)


def analyse_center(
    sinos: Mapping[int, np.ndarray],
    theta: np.ndarray,
    n_rows: int,
    *,
    center: float | str = "auto",
    method: str = "auto",
    tolerance_px: float = 0.5,
    half_acquisition: bool | str = "auto",
    tilt: str = "auto",
    sweep: Sequence[float] | str | None = None,
    frc: bool = True,
    pixel_size_um: float | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Rotation centre of a scan from a few bands of rows (the ``center.json`` record).

    Args:
        sinos: detector row -> its stripe-cleaned sinogram (angle, x), float32 line integrals
            (rows from :func:`center_rows`; adjacent rows form a band and are averaged). A
            value may also be (angle, rows, x), averaged.
        theta: angles, radians.
        n_rows: detector rows of the scan (for ``per_row``).
        center: ``"auto"`` or the centre on the input detector (tomopy convention).
        method: ``auto``, ``vo``, ``pc``, ``sharpness`` or ``360`` (see module docstring).
        tolerance_px: methods further apart than this flag the scan.
        half_acquisition: True, False or ``"auto"`` (decided from the ``360`` centre).
        tilt: ``auto``, ``none`` (one centre), ``line`` or ``per_row``.
        sweep: None, (start, stop, step) centres on the input detector, or ``"auto"`` (the
            chosen centre +- 5 px in 0.5 px steps): slices at the middle height for each
            (returned under the key ``_sweep_images``, not part of the JSON).
        frc: add the FRC resolution (even/odd projections) at the middle height.
        pixel_size_um: for the resolution in micrometres.
        device: for the trial reconstructions.

    Returns:
        The ``center.json`` dict (schema ``tomosnake.center/1``) plus ``_sweep_images``
        (float32 (n_centres, n, n)) when a sweep was asked for.
    """
    from tomosnake.preprocess.half_acquisition import stitch_half_acquisition

    if method not in METHODS:
        raise ConfigError(f"preprocess.center_method must be one of {METHODS}, got {method!r}")
    if tilt not in TILTS:
        raise ConfigError(f"preprocess.tilt must be one of {TILTS}, got {tilt!r}")
    if isinstance(center, str) and center != "auto":
        raise ConfigError(f"preprocess.center must be a number or 'auto', got {center!r}")
    if half_acquisition not in (True, False, "auto"):
        raise ConfigError(f"preprocess.half_acquisition must be true, false or 'auto', "
                          f"got {half_acquisition!r}")
    if tolerance_px <= 0:
        raise ConfigError(f"preprocess.center_tolerance_px must be > 0, got {tolerance_px}")
    th = np.asarray(theta, dtype=np.float64).ravel()
    if not np.all(np.isfinite(th)):
        raise InputError("rotation angles hold NaN or inf values")
    full = is_360(th)
    if half_acquisition is True and not full:
        raise ConfigError(f"half_acquisition=true needs a 360-degree scan, angles cover "
                          f"{np.degrees(theta_span(th)):.1f} deg")
    if method == "360" and not full:
        raise ConfigError("preprocess.center_method '360' needs a 360-degree scan")
    bands = _bands(sinos, th.size)
    z = np.array([b[0] for b in bands])
    nx = bands[0][1].shape[1]
    given = None if center == "auto" else float(center)

    # half acquisition: decided from the overlap centre (or the given one)
    values: dict[str, list[float | None]] = {}
    errors: dict[str, str] = {}
    if full and half_acquisition is not False:
        values["360"] = _run_method("360", bands, th, errors)
        ref = given if given is not None else _median(values["360"])
        stitched = half_acquisition is True or (ref is not None
                                                and abs(ref - nx / 2) > HALF_ACQ_OFFSET * nx)
    else:
        stitched = False
    names = ["360"] if stitched else (["vo", "pc"] + (["360"] if full else []))
    for name in names:
        if name not in values:
            values[name] = _run_method(name, bands, th, errors)
    guesses = [given] * len(bands) if given is not None else [
        _median([values[m][i] for m in values]) for i in range(len(bands))]
    values["sharpness"] = []
    for (_, sino), g in zip(bands, guesses, strict=True):
        try:
            values["sharpness"].append(sharpness_center(
                sino, th, nx / 2 if g is None else g, half_acquisition=stitched, device=device))
        except InputError as exc:
            errors["sharpness"] = str(exc)
            values["sharpness"].append(None)

    agreement = _agreement(values, z, tolerance_px)
    chosen, used = _choose(values, given, method, agreement, stitched)
    ok = [i for i, v in enumerate(chosen) if v is not None]
    if not ok:
        raise InputError("no centre method gave a result: " + "; ".join(
            f"{k}: {v}" for k, v in errors.items()))
    zc, cc = z[ok], np.asarray([chosen[i] for i in ok], dtype=np.float64)
    fit = _fit(zc, cc, n_rows, "none" if given is not None else tilt, tolerance_px,
               bool(agreement["agree"]))
    per_in = _per_row(fit, zc, cc, n_rows)
    mid_in = (float(np.interp(n_rows / 2, zc, cc)) if fit["kind"] == "per_row"
              else fit["intercept_px"])
    width = None
    if stitched:
        width = 2 * int(np.ceil(max(np.max(np.maximum(per_in, nx - per_in)), 1) - 1e-6))
        rec_center = width / 2.0
    else:
        rec_center = mid_in
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "n_rows": int(n_rows),
        "detector_width": int(nx),
        "theta_range_deg": round(float(np.degrees(theta_span(th))), 6),
        "heights": [int(round(v - 0.5)) for v in z],
        "methods": {k: [None if v is None else round(float(v), 4) for v in vs]
                    for k, vs in values.items()},
        "method_errors": errors,
        "agreement": agreement,
        "used": used,
        "fit": fit,
        "center": round(float(rec_center), 4),
        "per_row": (None if fit["kind"] == "constant" or stitched
                    else [round(float(v), 4) for v in per_in]),
        "half_acquisition": bool(stitched),
        "center_input_detector": round(float(mid_in), 4),
        "per_row_input_detector": (None if fit["kind"] == "constant"
                                   else [round(float(v), 4) for v in per_in]),
        "stitched_width": width,
        "sweep": None,
        "frc": None,
    }
    mid_band = int(np.argmin(np.abs(z - n_rows / 2)))
    row, sino = int(round(z[mid_band] - 0.5)), bands[mid_band][1]
    c_in_row = float(per_in[min(row, n_rows - 1)])
    if isinstance(sweep, str):
        if sweep != "auto":
            raise ConfigError(f"recon.center_sweep must be auto, null or [start, stop, step], "
                              f"got {sweep!r}")
        sweep = (c_in_row - AUTO_SWEEP[0], c_in_row + AUTO_SWEEP[0], AUTO_SWEEP[1])
    if sweep is not None:
        record["sweep"], record["_sweep_images"] = _sweep(sino, th, sweep, row, stitched, device)
    if frc:
        record["frc"] = _frc(sino, th, c_in_row, stitched, width, row, pixel_size_um, device,
                             stitch_half_acquisition)
    log.info("centre %.2f (%s; %s)", record["center"], used["method"], agreement["message"])
    return record


def _median(vals: Sequence[float | None]) -> float | None:
    ok = [v for v in vals if v is not None]
    return float(np.median(ok)) if ok else None


def _run_method(name: str, bands: list[tuple[float, np.ndarray]], th: np.ndarray,
                errors: dict[str, str]) -> list[float | None]:
    out: list[float | None] = []
    for _, sino in bands:
        try:
            out.append(_method_value(name, sino, th))
        except InputError as exc:
            errors[name] = str(exc)
            out.append(None)
    return out


def _agreement(values: Mapping[str, list[float | None]], z: np.ndarray,
               tol: float) -> dict[str, Any]:
    spreads, worst = [], None
    for i in range(z.size):
        got = {k: v[i] for k, v in values.items() if v[i] is not None}
        if len(got) >= 2:
            spread = max(got.values()) - min(got.values())
            spreads.append(spread)
            if worst is None or spread > worst[0]:
                worst = (spread, int(round(z[i] - 0.5)), got)
    names = sorted(k for k, v in values.items() if any(x is not None for x in v))
    if worst is None:
        return {"tolerance_px": tol, "spread_px": None, "agree": False,
                "message": f"fewer than two methods gave a centre ({', '.join(names) or 'none'})"}
    spread = float(max(spreads))
    agree = spread <= tol
    detail = ", ".join(f"{k} {v:.2f}" for k, v in sorted(worst[2].items()))
    if agree:
        msg = f"{', '.join(names)} agree within {spread:.2f} px at {len(spreads)} heights"
    else:
        msg = (f"methods disagree by up to {spread:.2f} px (> {tol:g}) at row {worst[1]}: "
               f"{detail}")
    return {"tolerance_px": tol, "spread_px": round(spread, 4), "agree": bool(agree),
            "message": msg}


def _choose(values: Mapping[str, list[float | None]], given: float | None, method: str,
            agreement: Mapping[str, Any], stitched: bool
            ) -> tuple[list[float | None], dict[str, str]]:
    n = len(next(iter(values.values())))
    if given is not None:
        return [given] * n, {"method": "given", "reason": "set in the configuration"}
    if method in ("vo", "pc") and stitched:
        return list(values["360"]), {
            "method": "360", "reason": f"half acquisition: the overlap method ({method!r} "
            "needs the axis near the middle of the detector)"}
    if method != "auto":
        if method not in values or all(v is None for v in values[method]):
            avail = sorted(k for k, v in values.items() if any(x is not None for x in v))
            raise ConfigError(f"preprocess.center_method {method!r} gave no centre for this scan"
                              f" (available: {', '.join(avail)})")
        return list(values[method]), {"method": method,
                                      "reason": "asked for (preprocess.center_method)"}
    med = [_median([v[i] for v in values.values()]) for i in range(n)]
    if agreement["agree"]:
        return med, {"method": "median of methods", "reason": agreement["message"]}
    avail = [k for k, v in values.items() if any(x is not None for x in v)]
    if len(avail) >= 3:
        return med, {"method": "median of methods", "reason": agreement["message"] +
                     f"; the median of {len(avail)} methods outvotes one that failed"}
    if stitched and "360" in avail:
        return list(values["360"]), {
            "method": "360", "reason": agreement["message"] + "; the overlap of the two halves "
            "measures a half acquisition's centre directly (stitched slices are a weaker test)"}
    if "sharpness" in avail:
        return list(values["sharpness"]), {
            "method": "sharpness",
            "reason": agreement["message"] + "; the sharpness centre judges the reconstruction "
                                             "itself"}
    return list(values[avail[0]]), {"method": avail[0], "reason": agreement["message"]}


def _sweep(sino: np.ndarray, th: np.ndarray, sweep: Sequence[float], row: int, stitched: bool,
           device: str) -> tuple[dict[str, Any], np.ndarray]:
    from tomosnake.recon.sweep import METRIC_NAMES, center_sweep, sweep_centers

    if len(sweep) != 3:
        raise ConfigError(f"recon.center_sweep must be [start, stop, step], got {list(sweep)}")
    cs = sweep_centers(*(float(v) for v in sweep))
    images, metric = center_sweep(sino, th, cs, half_acquisition=stitched, device=device)
    best = float(cs[int(np.argmax(metric))])
    return ({"row": row, "centers": [float(c) for c in cs], "metric": metric,
             "metric_name": METRIC_NAMES[stitched], "best_center": best,
             "tiff": "center_sweep.tif"},
            images)


def _frc(sino: np.ndarray, th: np.ndarray, c_in: float, stitched: bool, width: int | None,
         row: int, pixel_size_um: float | None, device: str, stitch) -> dict[str, Any] | None:
    from tomosnake.recon.frc import frc_resolution

    if th.size < 16:
        return None
    if stitched:
        sino, th, c_in = stitch(sino, th, c_in, width=width)
    return frc_resolution(sino, th, c_in, device=device).to_dict(row, pixel_size_um)
