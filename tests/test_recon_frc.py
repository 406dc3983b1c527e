"""Fourier ring correlation: the resolution tracks a known blur."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from tomosnake.errors import ConfigError, InputError
from tomosnake.recon.frc import _apodise, _crossing, fourier_ring_correlation, frc_resolution
from tomosnake.synth.analytic import project, voxelize
from tomosnake.synth.presets import nmc_pillar

N = 256


@pytest.fixture(scope="module")
def slice_truth():
    mu, _ = voxelize(nmc_pillar(8, N, seed=1, pillar_fraction=0.85), 3, 4, N, supersample=2)
    return mu[0] / mu.max()


def _expected_resolution(signal: np.ndarray, noise_sigma: float, thr: np.ndarray) -> float:
    """Crossing of the FRC expected from the known signal spectrum and white noise level."""
    n = signal.shape[0]
    fs = np.fft.fftshift(np.fft.fft2(_apodise(signal - signal.mean(), 0.9)))
    noise = noise_sigma**2 * (_apodise(np.ones((n, n)), 0.9) ** 2).sum()
    k = np.arange(n) - n // 2
    ring = np.rint(np.hypot(k[:, None], k[None, :])).astype(int).ravel()
    ps = np.bincount(ring, (np.abs(fs) ** 2).ravel())[1 : n // 2 + 1]
    count = np.bincount(ring)[1 : n // 2 + 1]
    frc = ps / (ps + count * noise)
    return _crossing(np.arange(1, n // 2 + 1) / n, frc, thr)


def test_resolution_tracks_blur(slice_truth):
    """Two noisy copies of the phantom blurred by sigma: the half-bit resolution grows with
    sigma and equals the crossing predicted from signal and noise spectra within 8 %
    (measured over 10 noise seeds: within 5 %; about 2 sigma + 1.3 px)."""
    rng = np.random.default_rng(1)
    noise = 0.05
    found = []
    for sigma in (1.0, 1.5, 2.0, 3.0, 4.0):
        blurred = ndimage.gaussian_filter(slice_truth.astype(np.float64), sigma)
        res = fourier_ring_correlation(blurred + noise * rng.standard_normal(blurred.shape),
                                       blurred + noise * rng.standard_normal(blurred.shape))
        assert res.resolution_px == pytest.approx(
            _expected_resolution(blurred, noise, res.threshold), rel=0.08)
        found.append(res.resolution_px)
    assert np.all(np.diff(found) > 0)
    assert found[0] < 4 and found[-1] > 8


def test_even_odd_reconstructions_track_detector_blur(slice_truth):
    """FRC of slices from even and odd projections: more detector blur, coarser resolution."""
    ph = nmc_pillar(8, N, seed=1, pillar_fraction=0.85)
    theta = np.linspace(0, np.pi, 400, endpoint=False)
    sino = project(ph, theta, 8, N, N / 2, rows=(3, 4))[:, 0]
    rng = np.random.default_rng(2)
    found = []
    for sigma in (0.0, 1.5, 3.0):
        blurred = ndimage.gaussian_filter1d(sino, sigma, axis=1) if sigma else sino
        noisy = blurred + 0.01 * rng.standard_normal(sino.shape)
        res = frc_resolution(noisy, theta, N / 2)
        found.append(res.resolution_px)
        d = res.to_dict(row=3, pixel_size_um=0.5)
        assert d["resolution_um"] == pytest.approx(0.5 * res.resolution_px)
        assert d["frequency"][-1] == pytest.approx(0.5) and len(d["frc"]) == N // 2
    assert found[0] < found[1] < found[2]


def test_one_seventh_and_errors(slice_truth):
    rng = np.random.default_rng(0)
    blurred = ndimage.gaussian_filter(slice_truth, 2.0)
    a = blurred + 0.05 * rng.standard_normal(slice_truth.shape)
    b = blurred + 0.05 * rng.standard_normal(slice_truth.shape)
    half_bit = fourier_ring_correlation(a, b)
    seventh = fourier_ring_correlation(a, b, threshold="1/7")
    assert np.all(seventh.threshold == pytest.approx(1 / 7))
    assert seventh.resolution_px <= half_bit.resolution_px  # 1/7 is the more lenient
    assert fourier_ring_correlation(slice_truth, slice_truth).resolution_px is None
    with pytest.raises(ConfigError, match="threshold"):
        fourier_ring_correlation(a, b, threshold="3-sigma")
    with pytest.raises(InputError, match="square"):
        fourier_ring_correlation(a, b[:, :-1])
