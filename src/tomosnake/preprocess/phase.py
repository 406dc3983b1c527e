"""Single-distance Paganin phase retrieval (Paganin et al., J. Microsc. 206 (2002) 33).

Numerically equal to ``tomopy.retrieve_phase`` as stored in the tomopy reference data (tomopy
<= 1.11: the filtered intensity is returned, without the later versions' -log and division by the
wave number; spatial frequencies ``f`` in cycles per length) when given the equivalent parameters:
tomopy's ``pixel_size`` [cm] = ``pixel_size_um * 1e-4``, ``dist`` [cm] = ``distance_m * 100``,
``energy`` [keV] = ``energy_kev``, ``alpha`` = ``alpha``.

The filter is ``1 / (lambda z f^2 / (4 pi) + alpha)``, normalised to a maximum of 1. Paganin's
physical filter ``1 / (1 + pi lambda z (delta/beta) f^2)`` is the same shape for
``alpha = 1 / (4 pi^2 delta/beta)`` (:func:`paganin_alpha`), so pass ``delta_beta`` for physical
units or ``alpha`` to reproduce tomopy.
"""

from __future__ import annotations

import numpy as np

from tomosnake.errors import ConfigError

PLANCK_KEV_S = 6.58211928e-19  # reduced Planck constant in keV s (tomopy's value)
SPEED_OF_LIGHT_CM_S = 299792458e2
PI = 3.14159265359  # tomopy's value of pi, kept for bit-level agreement


def wavelength_cm(energy_kev: float) -> float:
    """X-ray wavelength in cm for a photon energy in keV (tomopy's ``_wavelength``)."""
    return 2 * PI * PLANCK_KEV_S * SPEED_OF_LIGHT_CM_S / energy_kev


def paganin_alpha(delta_beta: float) -> float:
    """tomopy-style ``alpha`` giving Paganin's filter for the ratio ``delta/beta``.

    ``lambda z f^2 / (4 pi) + alpha = alpha (1 + pi lambda z (delta/beta) f^2)`` when
    ``alpha = 1 / (4 pi^2 delta/beta)``.
    """
    if delta_beta <= 0:
        raise ConfigError(f"paganin delta_beta must be > 0, got {delta_beta}")
    return 1.0 / (4 * PI**2 * delta_beta)


def _reciprocal_coord(pixel_size_cm: float, num: int) -> np.ndarray:
    n = num - 1
    rc = np.arange(-n, num, 2, dtype=np.float32)
    rc *= 0.5 / (n * pixel_size_cm)  # cycles per cm on tomopy's grid
    return rc


def _pad_width(dim: int, pixel_size_cm: float, wavelength: float, dist_cm: float) -> int:
    pad_pix = np.ceil(PI * wavelength * dist_cm / pixel_size_cm**2)
    return int((2 ** np.ceil(np.log2(dim + pad_pix)) - dim) * 0.5)


def retrieve_phase(
    proj: np.ndarray,
    pixel_size_um: float = 1.0,
    distance_m: float = 0.5,
    energy_kev: float = 20.0,
    alpha: float | None = 1e-3,
    delta_beta: float | None = None,
    pad: bool = True,
) -> np.ndarray:
    """Paganin-filter normalised projections (intensity, not -log), each (z, x) image in turn.

    Args:
        proj: normalised projections (angle, z, x) (transmission, ~1 in air).
        pixel_size_um: detector pixel size, micrometres.
        distance_m: sample-detector propagation distance, metres.
        energy_kev: photon energy, keV.
        alpha: tomopy's regularisation parameter (used if ``delta_beta`` is None).
        delta_beta: ratio delta/beta of the material; overrides ``alpha`` via
            :func:`paganin_alpha`.
        pad: pad each image to a power of two (edge values replicated), as tomopy.

    Returns:
        float32 filtered intensities (angle, z, x); take :func:`minus_log` afterwards for line
        integrals of the (scaled) projected thickness.
    """
    if delta_beta is not None:
        alpha = paganin_alpha(delta_beta)
    if alpha is None or alpha <= 0 or pixel_size_um <= 0 or distance_m < 0 or energy_kev <= 0:
        raise ConfigError(
            "paganin needs pixel_size_um > 0, distance_m >= 0, energy_kev > 0 and alpha > 0 "
            f"(or delta_beta > 0); got {pixel_size_um}, {distance_m}, {energy_kev}, {alpha}"
        )
    a = np.asarray(proj, dtype=np.float32)
    if a.ndim == 2:
        a = a[None]
    _, dy, dz = a.shape
    px_cm, dist_cm = pixel_size_um * 1e-4, distance_m * 100.0
    lam = wavelength_cm(energy_kev)
    py = pz = 0
    val = 0.0
    if pad:
        val = float(np.mean((a[..., 0] + a[..., -1]) * 0.5))
        py = _pad_width(dy, px_cm, lam, dist_cm)
        pz = _pad_width(dz, px_cm, lam, dist_cm)
    ky = np.square(_reciprocal_coord(px_cm, dy + 2 * py))
    kz = np.square(_reciprocal_coord(px_cm, dz + 2 * pz))
    w2 = np.add.outer(ky, kz)
    filt = np.fft.fftshift(1 / (lam * dist_cm * w2 / (4 * PI) + alpha))
    filt = filt / filt.max()
    out = np.empty_like(a)
    prj = np.full((dy + 2 * py, dz + 2 * pz), val, dtype=np.float32)
    for m in range(a.shape[0]):
        prj[py : dy + py, pz : dz + pz] = a[m]
        if pad:
            if py > 0:
                prj[:py] = prj[py]
                prj[-py:] = prj[-py - 1]
            if pz > 0:
                prj[:, :pz] = prj[:, pz][:, None]
                prj[:, -pz:] = prj[:, -pz - 1][:, None]
        res = np.real(np.fft.ifft2(np.fft.fft2(prj) * filt))
        out[m] = res[py : dy + py, pz : dz + pz] if pad else res
    return out if np.ndim(proj) == 3 else out[0]
