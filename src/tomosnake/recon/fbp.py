"""Filtered back-projection with tomopy's filters and tomopy's ray-driven back-projector.

Each projection row is zero-padded to a power of two >= 2 n_det, multiplied in
Fourier space by the ramp |nu| times the window of ``filter_name`` (tomopy's
filters, :mod:`tomosnake.recon.filters`), and back-projected with the transpose
of the Siddon matrix (:func:`tomosnake.recon.project.backproject`), scaled by
pi / n_angles: the result is attenuation per pixel length like gridrec.

``filter_name="none"`` is tomopy's ``fbp`` exactly: tomopy never filters in fbp,
it sums ray length x projection value over angles without the pi / n_angles
factor, and so does this function for "none".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tomosnake.recon.backend import Backend
from tomosnake.recon.filters import DEFAULT_FILTER_PAR, ramlak_response, window
from tomosnake.recon.project import backproject


def padded_length(n_det: int) -> int:
    """FFT length for filtering: a power of two >= 2 n_det (no circular wrap-around)."""
    return int(2 ** np.ceil(np.log2(max(2 * n_det, 16))))


def filter_sinograms(
    be: Backend,
    sino: object,
    filter_name: str,
    filter_par: Sequence[float] = DEFAULT_FILTER_PAR,
) -> object:
    """Filter rows (..., n_det) with the ramp |nu| (cycles/pixel) times tomopy's window.

    The ramp is the discrete Ram-Lak kernel's (:func:`~tomosnake.recon.filters.ramlak_response`),
    not the sampled |nu|, whose zero at zero frequency leaves slices with a negative offset
    (a disc of attenuation 1 read 0.996 in air of -0.004; now 1.000 and 0.000).
    """
    xp = be.xp
    n_det = sino.shape[-1]
    pd = padded_length(n_det)
    freq = np.fft.rfftfreq(pd)
    resp = ramlak_response(pd)[: freq.size] * window(filter_name, freq, filter_par) / 2.0
    spec = be.fft.rfft(sino, n=pd, axis=-1, **be.fft_kwargs)
    spec *= be.asarray(resp.astype(np.float32))
    return be.fft.irfft(spec, n=pd, axis=-1, **be.fft_kwargs)[..., :n_det].astype(xp.float32)


def fbp(
    be: Backend,
    proj: object,
    theta: np.ndarray,
    center: float,
    filter_name: str = "shepp",
    filter_par: Sequence[float] = DEFAULT_FILTER_PAR,
) -> object:
    """Filtered back-projection of (angle, z, n_det) line integrals -> (z, n_det, n_det)."""
    n_det = proj.shape[-1]
    if filter_name == "none":
        return backproject(be, proj, theta, center, n_det)
    q = filter_sinograms(be, proj, filter_name, filter_par)
    return backproject(be, q, theta, center, n_det) * np.float32(np.pi / len(theta))
