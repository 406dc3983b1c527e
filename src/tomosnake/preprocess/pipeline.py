"""Preprocessing, split by access pattern: projection-wise blocks and sinogram-wise rows.

- Projection-wise (whole frames of a block of angles; the workflow's ``ingest`` jobs):
  flat/dark normalisation (flats taken before and after the scan are interpolated per
  projection), zingers, per-projection alignment shifts, Paganin, -log:
  :func:`normalise_block` with a :class:`FlatField`.
- Sinogram-wise (some rows of every angle; the ``recon`` jobs): stripe (ring) removal with
  its metric before and after, :func:`clean_rows`; half-acquisition stitching once the
  centre is known.
- The centre is found from a few bands of rows (the ``center`` job).

:func:`tomosnake.preprocess.prepare.prepare` runs the whole chain in memory for a small scan
(the ``tomosnake recon`` command), made of the same functions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from tomosnake.errors import ConfigError, InputError
from tomosnake.io import RawScan
from tomosnake.preprocess.half_acquisition import stitch_half_acquisition
from tomosnake.preprocess.normalize import flat_dark_denominator, minus_log
from tomosnake.preprocess.phase import retrieve_phase
from tomosnake.preprocess.ring_metric import stripe_metric
from tomosnake.preprocess.stripes import RING_METHODS, fw_default_level, remove_stripes
from tomosnake.preprocess.zingers import remove_outlier

log = logging.getLogger("tomosnake")

PAGANIN_KEYS = ("pixel_size_um", "distance_m", "energy_kev", "alpha", "delta_beta", "pad")
#: normalised data (no flats) must not exceed this transmission
TRANSMISSION_MAX = 2.0
#: what to do without flat fields: stop, data already normalised, or each row's bright level
NO_FLATS = ("error", "normalised", "row_bright")
#: what to do without dark fields: stop, or take the dark current as zero
NO_DARKS = ("error", "zero")


@dataclass
class FlatField:
    """Mean dark and flat frames (z, x) float32 and how they normalise projections.

    ``flats`` holds one mean flat, or two (taken before and after the scan) that are
    interpolated linearly in acquisition time: projection i of n is taken at (i + 0.5) / n
    of the way from the first set to the second. ``mode`` says what was done, in words.
    """

    mode: str
    dark: np.ndarray | None = None
    flats: tuple[np.ndarray, ...] = ()

    def transmission(self, counts: np.ndarray, first: int, n_proj: int, where: str) -> np.ndarray:
        """Counts (k, z, x) of projections ``first .. first + k - 1`` -> transmission float32."""
        block = np.asarray(counts, dtype=np.float32)
        if not np.all(np.isfinite(block)):
            raise InputError(f"{where}: projections {first}..{first + len(block) - 1} hold NaN "
                             "or inf values")
        if self.flats:
            dark = self.dark if self.dark is not None else np.float32(0)
            if len(self.flats) == 1:
                return (block - dark) / self.flats[0]
            w = ((np.arange(first, first + len(block), dtype=np.float32) + np.float32(0.5))
                 / np.float32(n_proj))[:, None, None]
            return (block - dark) / ((1 - w) * self.flats[0] + w * self.flats[1])
        if self.mode == "row bright level":
            bright = np.percentile(block, 99, axis=-1, keepdims=True)
            return block / np.maximum(bright, np.float32(1e-6))
        peak = float(block.max()) if block.size else 0.0
        if peak > TRANSMISSION_MAX:
            raise InputError(f"{where}: no flat fields and values up to {peak:g}, so the data are "
                             "not normalised transmission; set preprocess.no_flats: row_bright")
        return block


def flat_field(flats: list[np.ndarray], dark: np.ndarray | None, shape: tuple[int, int],
               where: str, no_flats: str = "error", no_darks: str = "error") -> FlatField:
    """Build the :class:`FlatField` from mean flat frame(s) and the mean dark (or None).

    ``no_flats`` / ``no_darks``: the fallback chosen explicitly when a scan has none
    (:data:`NO_FLATS`, :data:`NO_DARKS`); the default stops with an error naming ``where``.
    """
    if no_flats not in NO_FLATS:
        raise ConfigError(f"preprocess.no_flats must be one of {NO_FLATS}, got {no_flats!r}")
    if no_darks not in NO_DARKS:
        raise ConfigError(f"preprocess.no_darks must be one of {NO_DARKS}, got {no_darks!r}")
    flats = [f for f in flats if f is not None]
    if not flats:
        if no_flats == "error":
            raise InputError(f"{where}: no flat fields; if the data are already normalised set "
                             "preprocess.no_flats: normalised, to divide each detector row by "
                             "its bright level (air in every row) set row_bright")
        if no_flats == "row_bright":
            log.warning("%s: no flat fields: normalising each detector row by its 99th "
                        "percentile (assumes air in every row)", where)
        return FlatField("row bright level" if no_flats == "row_bright" else "already normalised")
    if dark is None:
        if no_darks == "error":
            raise InputError(f"{where}: flat fields but no dark fields; to take the dark current "
                             "as zero set preprocess.no_darks: zero")
        dark = np.zeros(shape, np.float32)
    for name, f in (("flat", flats[0]), ("dark", dark)):
        if not np.all(np.isfinite(f)):
            raise InputError(f"{where}: {name} fields hold NaN or inf values")
    denoms = []
    for f in flats:
        try:
            d, denom = flat_dark_denominator(f, dark, shape)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        denoms.append(denom)
    mode = "flat-field" + (" (flats before and after, interpolated)" if len(flats) > 1 else "")
    if not np.any(dark):
        mode += " (no darks: dark = 0)"
    return FlatField(mode, d, tuple(denoms))


def paganin_args(paganin: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Paganin options completed from the scan metadata (pixel size, distance, energy)."""
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


def shift_frames(frames: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Shift each (z, x) frame by its (dy, dx) in pixels (cubic spline, edges replicated)."""
    out = np.empty_like(frames)
    for i, (frame, s) in enumerate(zip(frames, shifts, strict=True)):
        out[i] = ndimage.shift(frame, s, order=3, mode="nearest") if np.any(s) else frame
    return out


def normalise_block(
    counts: np.ndarray,
    first: int,
    n_proj: int,
    ff: FlatField,
    *,
    zingers: bool = True,
    paganin: Mapping[str, Any] | None = None,
    shifts: np.ndarray | None = None,
    where: str = "scan",
) -> np.ndarray:
    """Detector counts of projections ``first..`` (k, z, x) -> float32 line integrals.

    Transmission (``ff``), zinger removal (3x3 median, 6 robust sigma), alignment
    ``shifts`` (k, 2) (dy, dx) px, Paganin (completed options, see :func:`paganin_args`),
    then -log.
    """
    t = ff.transmission(counts, first, n_proj, where)
    if zingers:
        t = remove_outlier(t)
    if shifts is not None:
        t = shift_frames(t, shifts)
    if paganin is not None:
        t = retrieve_phase(t, **paganin)
    return minus_log(t)


def clean_rows(rows: np.ndarray, rings: str) -> tuple[np.ndarray, list[float], list[float]]:
    """Stripe removal on every sinogram of ``rows`` (angle, r, x), in place.

    Returns the rows and the stripe metric of each sinogram before and after
    (:func:`~tomosnake.preprocess.ring_metric.stripe_metric`).
    """
    if rings not in RING_METHODS:
        raise ConfigError(f"preprocess.rings must be one of {RING_METHODS}, got {rings!r}")
    kwargs = {"level": fw_default_level(rows.shape)} if rings == "fw" else {}
    before, after = [], []
    for z in range(rows.shape[1]):
        sino = np.ascontiguousarray(rows[:, z, :])
        before.append(stripe_metric(sino))
        if rings != "none":
            sino = remove_stripes(sino, rings, **kwargs)
            rows[:, z, :] = sino
        after.append(stripe_metric(sino))
    return rows, before, after


def stitch_rows(rows: np.ndarray, theta: np.ndarray, centers: np.ndarray, width: int | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-acquisition stitching of rows (angle, r, x) with one centre per row (input
    detector), all onto one detector of ``width`` columns (axis at ``width / 2``).

    Rows whose centres agree are stitched together. Returns (rows on the stitched detector,
    180-degree theta, centre per row on the stitched data).
    """
    centers = np.asarray(centers, dtype=np.float64)
    out, out_c, th = None, np.empty_like(centers), theta
    for c in np.unique(centers):
        idx = np.flatnonzero(centers == c)
        part, th, cs = stitch_half_acquisition(rows[:, idx, :], theta, float(c), width=width)
        if out is None:
            out = np.empty((part.shape[0], rows.shape[1], part.shape[2]), np.float32)
        out[:, idx, :] = part
        out_c[idx] = cs
    return out, th, out_c


def row_centers(record: Mapping[str, Any], z0: int, z1: int) -> np.ndarray:
    """Centre of rows ``z0..z1-1`` on the detector the reconstruction gets, from a
    ``center.json`` record (for half acquisition: on the input detector, to stitch with)."""
    if record["half_acquisition"]:
        per = record.get("per_row_input_detector")
        return (np.asarray(per, np.float64)[z0:z1] if per
                else np.full(z1 - z0, float(record["center_input_detector"])))
    if record.get("per_row"):
        return np.asarray(record["per_row"], np.float64)[z0:z1]
    return np.full(z1 - z0, float(record["center"]))


def raw_flat_field(raw: RawScan, no_flats: str, no_darks: str) -> FlatField:
    """:func:`flat_field` of an in-memory :class:`~tomosnake.io.RawScan`."""
    shape = raw.proj.shape[1:]
    mean = None if raw.flat is None else np.mean(raw.flat, axis=0, dtype=np.float32)
    dark = None if raw.dark is None else np.mean(raw.dark, axis=0, dtype=np.float32)
    return flat_field([mean], dark, shape, str(raw.meta.get("source", "scan")), no_flats,
                      no_darks)
