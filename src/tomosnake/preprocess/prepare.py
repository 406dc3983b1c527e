"""The whole preprocessing chain in memory for a small scan (the ``tomosnake recon`` command).

Made of the block and row functions of :mod:`tomosnake.preprocess.pipeline` that the
workflow's jobs run; kept apart so that the workflow's ingest jobs do not depend on the
centre finding (and the reconstruction it uses).
"""

from __future__ import annotations

import logging

import numpy as np

from tomosnake.errors import ConfigError, InputError
from tomosnake.io import RawScan
from tomosnake.preprocess.center import theta_span
from tomosnake.preprocess.centering import analyse_center, center_rows
from tomosnake.preprocess.pipeline import (
    RING_METHODS,
    clean_rows,
    normalise_block,
    paganin_args,
    raw_flat_field,
    row_centers,
    stitch_rows,
)
from tomosnake.progress import track

log = logging.getLogger(__name__)

BLOCK = 32  # projections per block


def prepare(
    raw: RawScan,
    *,
    zingers: bool = True,
    rings: str = "sort",
    paganin: dict | None = None,
    center: float | str = "auto",
    center_method: str = "auto",
    half_acquisition: bool | str = "auto",
    no_flats: str = "error",
    no_darks: str = "error",
) -> RawScan:
    """Raw scan -> reconstruction-ready line integrals with the rotation centre, in memory.

    Args:
        raw: projections (angle, z, x) in counts with flats/darks (or without: ``no_flats``).
        zingers: remove bright outliers from each normalised projection.
        rings: stripe removal on each sinogram (:data:`RING_METHODS`).
        paganin: None, or Paganin options ``delta_beta`` (or tomopy's ``alpha``),
            ``pixel_size_um``, ``distance_m``, ``energy_kev`` (defaults from ``raw.meta``),
            ``pad``.
        center: rotation centre in tomopy's convention on the input detector, or ``"auto"``.
        center_method: ``auto`` (the methods' median when they agree), ``vo``, ``pc``,
            ``sharpness`` or ``360`` (see :mod:`tomosnake.preprocess.centering`).
        half_acquisition: True / False / ``"auto"`` (a 360-degree scan whose axis is more
            than a quarter of the width from the middle is stitched to 180 degrees).
        no_flats, no_darks: the explicit fallback without flats or darks (:data:`NO_FLATS`,
            :data:`NO_DARKS`).

    Returns:
        RawScan with ``proj`` float32 line integrals (angle, z, x), ``theta`` (radians), no
        flats/darks, and ``meta`` = ``raw.meta`` plus ``center`` (on the returned data) and
        ``preprocess`` (what was done, centre analysis, stripe metrics before and after).
    """
    if rings not in RING_METHODS:  # before the slow part; analyse_center checks the rest
        raise ConfigError(f"rings must be one of {RING_METHODS}, got {rings!r}")
    src = str(raw.meta.get("source", "scan"))
    theta = np.asarray(raw.theta, dtype=np.float64)
    if not np.all(np.isfinite(theta)):
        raise InputError(f"{src}: rotation angles hold NaN or inf values")
    pag = paganin_args(paganin, raw.meta) if paganin is not None else None
    ff = raw_flat_field(raw, no_flats, no_darks)
    na, nz, _ = raw.proj.shape
    proj = np.empty(raw.proj.shape, np.float32)
    for i in track(range(0, na, BLOCK), "normalise projections"):
        proj[i : i + BLOCK] = normalise_block(raw.proj[i : i + BLOCK], i, na, ff, zingers=zingers,
                                              paganin=pag, where=src)
    proj, before, after = clean_rows(proj, rings)
    rows = center_rows(nz)
    report = analyse_center({z: proj[:, z, :] for z in rows}, theta, nz, center=center,
                            method=center_method, half_acquisition=half_acquisition,
                            pixel_size_um=raw.meta.get("pixel_size_um"), frc=False)
    per_row = row_centers(report, 0, nz)
    if report["half_acquisition"]:
        proj, theta, per_row = stitch_rows(proj, theta, per_row, report["stitched_width"])
    log.info("%s: rotation centre %.2f (%s)", src, report["center"], report["used"]["method"])
    meta = dict(raw.meta)
    meta["center"] = (per_row.tolist() if np.ptp(per_row) > 0 else float(report["center"]))
    meta["preprocess"] = {
        "normalisation": ff.mode,
        "zingers": bool(zingers),
        "rings": rings,
        "paganin": pag,
        "center_method": report["used"]["method"],
        "center_input_detector": report["center_input_detector"],
        "half_acquisition": report["half_acquisition"],
        "theta_range_deg": float(np.degrees(theta_span(theta))),
        "ring_metric_before": float(np.mean(before)),
        "ring_metric_after": float(np.mean(after)),
        "ring_metric": "RMS(column mean - its 9-column running median) / RMS(sinogram), "
                       "mean over slices",
        "center_analysis": report,
    }
    return RawScan(proj=proj, theta=theta, flat=None, dark=None, meta=meta)
