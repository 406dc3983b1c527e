"""The preprocessing pipeline used by the workflow and the command line: :func:`prepare`.

Raw counts -> flat/dark normalisation -> zinger removal -> (Paganin) -> -log -> stripe removal
-> rotation centre (-> half-acquisition stitching). Memory stays bounded by the float32 output:
normalisation, zingers and Paganin run on blocks of projections, stripe removal one sinogram
(z slice) at a time.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from tomosnake.errors import ConfigError, InputError
from tomosnake.io import RawScan
from tomosnake.preprocess.center import (
    CENTER_METHODS,
    find_center,
    find_center_pc,
    is_360,
    theta_span,
)
from tomosnake.preprocess.half_acquisition import stitch_half_acquisition
from tomosnake.preprocess.normalize import flat_dark_denominator, minus_log
from tomosnake.preprocess.phase import retrieve_phase
from tomosnake.preprocess.ring_metric import stripe_metric
from tomosnake.preprocess.stripes import RING_METHODS, fw_default_level, remove_stripes
from tomosnake.preprocess.zingers import remove_outlier
from tomosnake.progress import track

log = logging.getLogger("tomosnake")

PAGANIN_KEYS = ("pixel_size_um", "distance_m", "energy_kev", "alpha", "delta_beta", "pad")
#: normalised data (raw.flat None) must not exceed this; larger values are taken as raw counts
TRANSMISSION_MAX = 2.0
#: a 360-degree scan is a half acquisition if its axis is farther than this x width from the middle
HALF_ACQ_OFFSET = 0.25
BLOCK = 32  # projections per normalisation block


def _paganin_args(paganin: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    unknown = set(paganin) - set(PAGANIN_KEYS)
    if unknown:
        raise ConfigError(f"paganin: unknown keys {sorted(unknown)}; allowed {PAGANIN_KEYS}")
    args = dict(paganin)
    for key in ("pixel_size_um", "distance_m", "energy_kev"):
        if args.get(key) is None:
            if meta.get(key) is None:
                raise ConfigError(f"paganin needs '{key}': give it in the paganin options or in "
                                  "the scan metadata")
            args[key] = float(meta[key])
    if args.get("alpha") is None and args.get("delta_beta") is None:
        raise ConfigError("paganin needs 'delta_beta' (or tomopy's 'alpha')")
    return args


def _check_options(rings: str, center: float | str, center_method: str,
                   half_acquisition: bool | str) -> None:
    if rings not in RING_METHODS:
        raise ConfigError(f"rings must be one of {RING_METHODS}, got {rings!r}")
    if center_method not in CENTER_METHODS:
        raise ConfigError(f"center_method must be one of {CENTER_METHODS}, got {center_method!r}")
    if isinstance(center, str) and center != "auto":
        raise ConfigError(f"center must be a number (tomopy convention) or 'auto', got {center!r}")
    if half_acquisition not in (True, False, "auto"):
        raise ConfigError(
            f"half_acquisition must be true, false or 'auto', got {half_acquisition!r}"
        )


def _normalised_projections(raw: RawScan, zingers: bool, paganin: dict[str, Any] | None
                            ) -> tuple[np.ndarray, str]:
    src = raw.meta.get("source", "scan")
    na, nz, nx = raw.proj.shape
    dark = denom = None
    if raw.flat is not None:
        flat = np.asarray(raw.flat)
        dk = np.zeros((1, nz, nx), np.float32) if raw.dark is None else np.asarray(raw.dark)
        for name, f in (("flat", flat), ("dark", dk)):
            if not np.all(np.isfinite(f)):
                raise InputError(f"{src}: {name} fields hold NaN or inf values")
        try:
            dark, denom = flat_dark_denominator(flat, dk, (nz, nx))
        except InputError as exc:
            raise InputError(f"{src}: {exc}") from None
        mode = "flat-field" if raw.dark is not None else "flat-field (no darks: dark = 0)"
    else:
        peak = float(np.max(raw.proj[:: max(1, na // 16)]))
        mode = "already normalised" if peak <= TRANSMISSION_MAX else "row bright level"
        if mode == "row bright level":
            log.warning("%s: no flat fields and counts up to %g: normalising each detector row "
                        "by its 99th percentile (assumes air in every row)", src, peak)
    out = np.empty((na, nz, nx), dtype=np.float32)
    for i in track(range(0, na, BLOCK), "normalise projections"):
        block = np.asarray(raw.proj[i : i + BLOCK], dtype=np.float32)
        if not np.all(np.isfinite(block)):
            raise InputError(f"{src}: projections {i}..{i + len(block) - 1} hold NaN or inf "
                             "values")
        if denom is not None:
            block = (block - dark) / denom
        elif mode == "row bright level":
            bright = np.percentile(block, 99, axis=-1, keepdims=True)
            block = block / np.maximum(bright, np.float32(1e-6))
        if zingers:
            block = remove_outlier(block)
        if paganin is not None:
            block = retrieve_phase(block, **paganin)
        out[i : i + BLOCK] = minus_log(block)
    return out, mode


def _center_sinogram(proj: np.ndarray) -> np.ndarray:
    """Mean sinogram of up to 5 slices around the middle (less noise for centre finding)."""
    nz = proj.shape[1]
    lo, hi = max(0, nz // 2 - 2), min(nz, nz // 2 + 3)
    return proj[:, lo:hi, :].mean(axis=1)


def _auto_center(proj: np.ndarray, theta: np.ndarray, method: str) -> float:
    sino = _center_sinogram(proj)
    if method == "pc" and not is_360(theta):
        i = int(np.argmin(theta))
        j = int(np.argmin(np.abs(theta - (theta[i] + np.pi))))
        if theta_span(theta) < 0.98 * np.pi:
            raise InputError(f"scan covers {np.degrees(theta_span(theta)):.1f} deg; phase "
                             "correlation needs projections 180 deg apart")
        return find_center_pc(proj[i], proj[j])
    return find_center(sino, theta, method)


def prepare(
    raw: RawScan,
    *,
    zingers: bool = True,
    rings: str = "sort",
    paganin: dict | None = None,
    center: float | str = "auto",
    center_method: str = "vo",
    half_acquisition: bool | str = "auto",
) -> RawScan:
    """Raw scan -> reconstruction-ready line integrals with the rotation centre.

    Args:
        raw: projections (angle, z, x) in counts with flats/darks, or already normalised
            transmission if ``raw.flat`` is None (values <= 2; larger values are taken as counts
            without flats and each detector row of each projection is divided by its 99th
            percentile, which assumes air in every row). Missing darks count as 0.
        zingers: remove bright outliers from each normalised projection
            (:func:`~tomosnake.preprocess.zingers.remove_outlier`, 3x3 median, 6 robust sigma).
        rings: stripe removal on each sinogram: ``none``, ``sort`` (Vo alg. 3), ``large``
            (Vo alg. 5), ``all`` (Vo alg. 3-6), ``fw`` (Münch Fourier-wavelet), ``ti``
            (Titarenko).
        paganin: None, or Paganin options ``delta_beta`` (or tomopy's ``alpha``),
            ``pixel_size_um``, ``distance_m``, ``energy_kev`` (defaults from ``raw.meta``),
            ``pad``.
        center: rotation centre in tomopy's convention (column j spans [j, j+1)) of the input
            detector, or ``"auto"``.
        center_method: ``vo``, ``pc`` or ``360`` (see
            :func:`~tomosnake.preprocess.center.find_center`).
        half_acquisition: True: a 360-degree offset-axis scan, stitched to 180 degrees of double
            width; ``"auto"``: the same if a 360-degree scan's axis is more than a quarter of the
            width from the middle (then the centre is found by the ``360`` overlap method);
            False: never.

    Returns:
        RawScan with ``proj`` float32 line integrals (angle, z, x), ``theta`` (radians),
        ``flat = dark = None`` and ``meta`` = ``raw.meta`` plus ``center`` (tomopy convention, on
        the returned data) and ``preprocess`` (options, normalisation mode, stripe metrics before
        and after stripe removal, centre method, angular range). 360-degree scans that are not
        half acquisitions are returned as 360-degree data (all angles kept; FBP weights of
        pi / n_angles reconstruct them correctly).

    Raises:
        InputError: NaN/inf in the data, unusable flats. ConfigError: bad options.
    """
    _check_options(rings, center, center_method, half_acquisition)
    src = raw.meta.get("source", "scan")
    theta = np.asarray(raw.theta, dtype=np.float64)
    if not np.all(np.isfinite(theta)):
        raise InputError(f"{src}: rotation angles hold NaN or inf values")
    pag = _paganin_args(paganin, raw.meta) if paganin is not None else None
    proj, mode = _normalised_projections(raw, zingers, pag)

    nz = proj.shape[1]
    before, after = [], []
    level = fw_default_level(proj.shape)
    kwargs = {"level": level} if rings == "fw" else {}
    for z in track(range(nz), f"stripe removal ({rings})"):
        sino = np.ascontiguousarray(proj[:, z, :])
        before.append(stripe_metric(sino))
        if rings != "none":
            sino = remove_stripes(sino, rings, **kwargs)
            proj[:, z, :] = sino
        after.append(stripe_metric(sino))

    full = is_360(theta)
    nx = proj.shape[2]
    c360 = None
    stitched = False
    if center == "auto":
        if full and half_acquisition is not False:
            c360 = find_center(_center_sinogram(proj), theta, "360")
            stitched = half_acquisition is True or abs(c360 - nx / 2) > HALF_ACQ_OFFSET * nx
        c = c360 if stitched else _auto_center(proj, theta, center_method)
        used_method = "360" if stitched else center_method
    else:
        c = float(center)
        used_method = "given"
        if full and half_acquisition is not False:
            stitched = half_acquisition is True or abs(c - nx / 2) > HALF_ACQ_OFFSET * nx
    if half_acquisition is True and not full:
        raise ConfigError(f"{src}: half_acquisition=true needs a 360-degree scan, angles cover "
                          f"{np.degrees(theta_span(theta)):.1f} deg")
    center_input = float(c)
    if stitched:
        proj, theta, c = stitch_half_acquisition(proj, theta, c)
    log.info("%s: rotation centre %.2f (%s)", src, c, used_method)

    meta = dict(raw.meta)
    meta["center"] = float(c)
    meta["preprocess"] = {
        "normalisation": mode,
        "zingers": bool(zingers),
        "rings": rings,
        "paganin": pag,
        "center_method": used_method,
        "center_input_detector": center_input,
        "half_acquisition": stitched,
        "theta_range_deg": float(np.degrees(theta_span(theta))),
        "ring_metric_before": float(np.mean(before)),
        "ring_metric_after": float(np.mean(after)),
        "ring_metric": "RMS(column mean - its 9-column running median) / RMS(sinogram), "
                       "mean over slices",
    }
    return RawScan(proj=proj, theta=theta, flat=None, dark=None, meta=meta)
