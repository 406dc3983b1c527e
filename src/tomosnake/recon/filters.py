"""Reconstruction filters, defined as in tomopy's gridrec (``libtomo/gridrec/filters.c``).

Each filter is a function of the spatial frequency ``x`` in cycles per detector
pixel (0 <= x <= 0.5). tomopy's filters include the ramp as ``|2x|``; ``none``
is 1 everywhere (no ramp: a plain back-projection). ``filter_par`` defaults to
tomopy's ``[0.5, 8]``: the cut-off of hann/hamming/parzen/butterworth and the
butterworth order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tomosnake.errors import ConfigError

FILTERS = ("none", "shepp", "cosine", "hann", "hamming", "ramlak", "parzen", "butterworth")
DEFAULT_FILTER_PAR = (0.5, 8.0)


def filter_response(
    name: str, x: np.ndarray, filter_par: Sequence[float] = DEFAULT_FILTER_PAR
) -> np.ndarray:
    """tomopy's filter ``name`` at frequencies ``x`` (cycles/pixel, >= 0), float64."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    par = [float(p) for p in filter_par] + list(DEFAULT_FILTER_PAR[len(filter_par) :])
    ramp = 2.0 * x
    if name == "none":
        return np.ones_like(x)
    if name == "shepp":
        return np.where(x == 0, 0.0, ramp * np.sinc(x))
    if name == "cosine":
        return ramp * np.cos(np.pi * x)
    if name == "hann":
        return ramp * 0.5 * (1.0 + np.cos(2 * np.pi * x / par[0]))
    if name == "hamming":
        return ramp * (0.54 + 0.46 * np.cos(2 * np.pi * x / par[0]))
    if name == "ramlak":
        return ramp
    if name == "parzen":
        return ramp * (1.0 - x / par[0]) ** 3
    if name == "butterworth":
        return ramp / (1.0 + (x / par[0]) ** (2 * par[1]))
    raise ConfigError(f"filter_name must be one of {', '.join(FILTERS)}, got {name!r}")


def ramlak_response(n: int) -> np.ndarray:
    """2 x the frequency response of the discrete Ram-Lak kernel (Kak & Slaney 3.29), length n.

    On the FFT frequencies of an n-point row (tomopy's |2x| convention). Close to |2x|
    except at the lowest frequencies, where the sampled ramp's offset and cupping error
    come from; not zero at zero frequency on a finite row.
    """
    k = np.fft.fftfreq(n, 1.0 / n)
    h = np.zeros(n)
    h[0] = 0.25
    odd = k.astype(int) % 2 == 1
    h[odd] = -1.0 / (np.pi * k[odd]) ** 2
    return 2.0 * np.real(np.fft.fft(h))


def window(name: str, x: np.ndarray, filter_par: Sequence[float] = DEFAULT_FILTER_PAR
           ) -> np.ndarray:
    """tomopy's filter ``name`` divided by its ramp |2x| (1 at x = 0) at ``x`` cycles/pixel."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    safe = np.where(x == 0, 1.0, x)
    return np.where(x == 0, 1.0, filter_response(name, safe, filter_par) / (2 * safe))


def check_filter(name: str) -> str:
    """Return ``name`` if it is a known filter, else raise ConfigError."""
    if name not in FILTERS:
        raise ConfigError(f"filter_name must be one of {', '.join(FILTERS)}, got {name!r}")
    return name
