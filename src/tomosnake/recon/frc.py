"""Resolution from Fourier ring correlation (FRC) of two independent half-data reconstructions.

The projections are split into the even and the odd ones; each half is reconstructed and the
correlation of the two slices ring by ring in Fourier space says up to which spatial frequency
they share signal rather than noise. The resolution is the inverse of the frequency where the
FRC falls below a threshold: the half-bit curve (van Heel and Schatz, J. Struct. Biol. 151,
2005) or the fixed 1/7. Both halves hold half the angles, so the number describes a
reconstruction from half the data (slightly pessimistic for the full scan).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tomosnake.errors import ConfigError, InputError

THRESHOLDS = ("half-bit", "1/7")


@dataclass(frozen=True)
class FRCResult:
    """A Fourier ring correlation curve and the resolution it gives.

    Attributes:
        frequency: ring centres, cycles per pixel (0 .. 0.5).
        frc: correlation per ring.
        threshold: threshold curve per ring.
        threshold_name: "half-bit" or "1/7".
        resolution_px: 1 / (first frequency where frc < threshold), pixels; None when the
            curve stays above the threshold up to Nyquist (resolution at the pixel limit).
    """

    frequency: np.ndarray
    frc: np.ndarray
    threshold: np.ndarray
    threshold_name: str
    resolution_px: float | None

    def to_dict(self, row: int | None = None, pixel_size_um: float | None = None) -> dict:
        """The ``frc`` record of center.json (resolution also in micrometres if known)."""
        um = (None if self.resolution_px is None or pixel_size_um is None
              else float(self.resolution_px * pixel_size_um))
        return {
            "row": row,
            "frequency": [round(float(f), 6) for f in self.frequency],
            "frc": [round(float(v), 6) for v in self.frc],
            "threshold": [round(float(v), 6) for v in self.threshold],
            "threshold_name": self.threshold_name,
            "resolution_px": None if self.resolution_px is None else float(self.resolution_px),
            "resolution_um": um,
        }


def _apodise(img: np.ndarray, radius_fraction: float) -> np.ndarray:
    """Multiply by a disc with a cosine edge (no ring-correlated edge at the field border)."""
    n = img.shape[-1]
    yy, xx = np.ogrid[:n, :n]
    r = np.sqrt((yy - n / 2 + 0.5) ** 2 + (xx - n / 2 + 0.5) ** 2) / (n / 2)
    edge = 0.1
    w = np.clip((radius_fraction - r) / edge, 0.0, 1.0)
    return img * (0.5 - 0.5 * np.cos(np.pi * w))


def fourier_ring_correlation(
    img1: np.ndarray, img2: np.ndarray, threshold: str = "half-bit",
    radius_fraction: float = 0.9,
) -> FRCResult:
    """FRC of two square images of the same object with independent noise.

    Args:
        img1, img2: (n, n) images.
        threshold: "half-bit" or "1/7".
        radius_fraction: the images are apodised by a disc of this fraction of the
            half-width (smooth edge), as reconstructions are only valid inside their circle.

    Returns:
        :class:`FRCResult` with rings one frequency pixel (1/n) wide, from 1/n to 0.5.
    """
    if threshold not in THRESHOLDS:
        raise ConfigError(f"FRC threshold must be one of {THRESHOLDS}, got {threshold!r}")
    a = np.asarray(img1, dtype=np.float64)
    b = np.asarray(img2, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 8:
        raise InputError(f"FRC needs two square images of equal size, got {a.shape}, {b.shape}")
    n = a.shape[0]
    fa = np.fft.fftshift(np.fft.fft2(_apodise(a - a.mean(), radius_fraction)))
    fb = np.fft.fftshift(np.fft.fft2(_apodise(b - b.mean(), radius_fraction)))
    k = np.arange(n) - n // 2
    ring = np.rint(np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)).astype(int).ravel()
    n_rings = n // 2
    keep = (ring >= 1) & (ring <= n_rings)
    idx = ring[keep]
    cross = np.bincount(idx, (fa * np.conj(fb)).real.ravel()[keep], n_rings + 1)[1:]
    pa = np.bincount(idx, (np.abs(fa) ** 2).ravel()[keep], n_rings + 1)[1:]
    pb = np.bincount(idx, (np.abs(fb) ** 2).ravel()[keep], n_rings + 1)[1:]
    count = np.bincount(idx, minlength=n_rings + 1)[1:]
    frc = cross / np.sqrt(np.maximum(pa * pb, 1e-300))
    freq = np.arange(1, n_rings + 1) / n
    if threshold == "half-bit":
        s = np.sqrt(count)
        thr = (0.2071 + 1.9102 / s) / (1.2071 + 0.9102 / s)
    else:
        thr = np.full(n_rings, 1 / 7)
    return FRCResult(freq, frc, thr, threshold, _crossing(freq, frc, thr))


def _crossing(freq: np.ndarray, frc: np.ndarray, thr: np.ndarray) -> float | None:
    """1 / the first frequency where the FRC falls below the threshold (linear between rings).

    The first few rings are skipped while the FRC is still rising from the DC ring.
    """
    below = np.flatnonzero(frc < thr)
    below = below[below > 0]
    if below.size == 0:
        return None
    i = int(below[0])
    d0, d1 = frc[i - 1] - thr[i - 1], frc[i] - thr[i]
    f = freq[i - 1] + (freq[i] - freq[i - 1]) * d0 / (d0 - d1) if d0 != d1 else freq[i]
    return float(1.0 / f)


def frc_resolution(
    sino: np.ndarray,
    theta: np.ndarray,
    center: float,
    *,
    threshold: str = "half-bit",
    algorithm: str = "gridrec",
    filter_name: str = "shepp",
    device: str = "auto",
) -> FRCResult:
    """Resolution of one slice by FRC of its even- and odd-projection reconstructions.

    Args:
        sino: sinogram (angle, x) or adjacent rows (angle, rows, x) averaged, line integrals.
        theta: angles, radians (at least 16).
        center: rotation centre (tomopy convention).
        threshold, algorithm, filter_name, device: see :func:`fourier_ring_correlation`
            and :func:`~tomosnake.recon.reconstruct`.
    """
    from tomosnake.recon.api import reconstruct

    s = np.asarray(sino, dtype=np.float32)
    if s.ndim == 3:
        s = s.mean(axis=1)
    t = np.asarray(theta, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != t.size or t.size < 16:
        raise InputError(f"FRC needs a sinogram (angle, x) with >= 16 angles, got {s.shape} "
                         f"and {t.size} angles")
    order = np.argsort(t)
    even, odd = order[0::2], order[1::2]
    rec = [reconstruct(s[idx][:, None, :], t[idx], center, algorithm=algorithm,
                       filter_name=filter_name, device=device)[0] for idx in (even, odd)]
    return fourier_ring_correlation(rec[0], rec[1], threshold)
