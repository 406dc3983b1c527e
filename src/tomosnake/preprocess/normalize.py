"""Flat/dark-field normalisation and the minus-log transform (tomopy's conventions).

Projections are (angle, z, x); flats and darks (n, z, x) or (z, x). Output is float32.
"""

from __future__ import annotations

import logging

import numpy as np

from tomosnake.errors import InputError

log = logging.getLogger("tomosnake")

#: smallest flat - dark denominator, as in tomopy.normalize
DENOM_FLOOR = np.float32(1e-6)
#: smallest transmission accepted by :func:`minus_log` (-log(1e-6) = 13.8)
TRANSMISSION_FLOOR = np.float32(1e-6)


def _mean_field(field: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    field = np.asarray(field)
    if field.ndim == 2:
        field = field[None]
    if field.ndim != 3 or field.shape[1:] != shape:
        raise InputError(
            f"{name} fields have shape {field.shape}, expected (n, {shape[0]}, {shape[1]})"
        )
    if field.shape[0] == 0:
        raise InputError(f"{name} fields are empty (0 frames)")
    return np.mean(field, axis=0, dtype=np.float32)


def flat_dark_denominator(flat: np.ndarray, dark: np.ndarray, shape: tuple[int, int]) -> tuple[
    np.ndarray, np.ndarray
]:
    """Mean dark (z, x) and clipped ``mean(flat) - mean(dark)`` (z, x), float32.

    Pixels where the flat is not brighter than the dark (dead or saturated-dark pixels) get the
    denominator :data:`DENOM_FLOOR` = 1e-6 exactly like tomopy, so they come out very bright;
    their number is logged. If *every* pixel is like that the flats are unusable and
    :class:`InputError` is raised.
    """
    f = _mean_field(flat, "flat", shape)
    d = _mean_field(dark, "dark", shape)
    denom = f - d
    bad = ~(denom > DENOM_FLOOR)
    if bad.all():
        raise InputError(
            "flat fields are not brighter than the dark fields anywhere "
            f"(mean flat {float(f.mean()):.4g}, mean dark {float(d.mean()):.4g}): "
            "the flats are missing, all zero or swapped with the darks"
        )
    if bad.any():
        log.warning("normalize: %d of %d pixels have flat <= dark; clipped to %g like tomopy",
                    int(bad.sum()), bad.size, DENOM_FLOOR)
        denom = np.where(bad, DENOM_FLOOR, denom)
    return d, denom


def normalize(
    proj: np.ndarray, flat: np.ndarray, dark: np.ndarray, cutoff: float | None = None
) -> np.ndarray:
    """``(proj - mean(dark)) / (mean(flat) - mean(dark))``, as ``tomopy.normalize``.

    Args:
        proj: projections (angle, z, x), counts (any numeric dtype).
        flat: flat fields (n, z, x) or (z, x).
        dark: dark fields (n, z, x) or (z, x).
        cutoff: if given, values above it are set to it (tomopy's ``cutoff``).

    Returns:
        float32 transmission (angle, z, x). Pixels with flat <= dark use the denominator 1e-6
        (tomopy's clip); an all-dark flat raises :class:`InputError`.
    """
    proj = np.asarray(proj)
    if proj.ndim != 3:
        raise InputError(f"projections must be 3-D (angle, z, x), got shape {proj.shape}")
    d, denom = flat_dark_denominator(flat, dark, proj.shape[1:])
    out = (proj.astype(np.float32) - d) / denom
    if cutoff is not None:
        np.minimum(out, np.float32(cutoff), out=out)
    return out


def minus_log(arr: np.ndarray, floor: float = float(TRANSMISSION_FLOOR)) -> np.ndarray:
    """``-log(arr)`` in float32, with transmission values below ``floor`` clipped to ``floor``.

    tomopy's ``minus_log`` returns NaN/inf for values <= 0 (noise in opaque regions, dead
    pixels); here they become ``-log(floor)`` (13.8 for the default 1e-6) so that later
    filtering never meets NaN.
    """
    a = np.asarray(arr, dtype=np.float32)
    return -np.log(np.maximum(a, np.float32(floor)))
