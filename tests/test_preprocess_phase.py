"""Paganin phase retrieval against tomopy's stored output."""

from __future__ import annotations

import numpy as np
import pytest

from tomosnake.errors import ConfigError
from tomosnake.preprocess import paganin_alpha, retrieve_phase


def test_retrieve_phase_equals_tomopy(shared_data):
    d = shared_data / "real_scans" / "tomopy_reference"
    proj = np.load(d / "proj.npy")
    ref = np.load(d / "retrieve_phase.npy")
    # tomopy.retrieve_phase(proj) defaults: pixel_size=1e-4 cm, dist=50 cm, energy=20 keV,
    # alpha=1e-3, pad=True
    out = retrieve_phase(proj, pixel_size_um=1.0, distance_m=0.5, energy_kev=20.0, alpha=1e-3)
    assert out.dtype == np.float32
    assert (np.abs(out - ref) / np.abs(ref)).max() < 1e-5  # measured 2.3e-7


def test_delta_beta_is_the_equivalent_alpha(shared_data):
    proj = np.load(shared_data / "real_scans" / "tomopy_reference" / "proj.npy")
    db = 1.0 / (4 * np.pi**2 * 1e-3)
    assert paganin_alpha(db) == pytest.approx(1e-3, rel=1e-9)
    a = retrieve_phase(proj, 1.0, 0.5, 20.0, alpha=1e-3)
    b = retrieve_phase(proj, 1.0, 0.5, 20.0, alpha=None, delta_beta=db)
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_paganin_keeps_mean_and_smooths():
    rng = np.random.default_rng(0)
    img = (0.7 + 0.05 * rng.standard_normal((2, 64, 64))).astype(np.float32)
    out = retrieve_phase(img, pixel_size_um=0.65, distance_m=0.1, energy_kev=25.0,
                         delta_beta=300.0)
    assert out.mean() == pytest.approx(img.mean(), rel=5e-3)  # filter ~1 at zero frequency
    assert out.std() < 0.5 * img.std()  # and a low-pass: noise is damped


def test_bad_parameters():
    with pytest.raises(ConfigError):
        retrieve_phase(np.ones((1, 8, 8)), pixel_size_um=-1.0)
    with pytest.raises(ConfigError):
        paganin_alpha(0.0)
