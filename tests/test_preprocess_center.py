"""Rotation-centre finding: tomopy's convention, synthetic off-centre scans, real 360-degree data.

Convention (tomopy's): detector column j spans [j, j+1), so the middle of an n-column detector
is n/2 and a sinogram that is mirror-symmetric about the middle, ``sino[:, j] ==
sino[:, n-1-j]``, has its centre at n/2 (not (n-1)/2).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import phantoms
import pytest
import tifffile
from scipy import ndimage
from skimage.data import shepp_logan_phantom
from skimage.transform import radon, rescale

from tomosnake.errors import ConfigError, InputError
from tomosnake.preprocess import (
    find_center,
    find_center_360,
    find_center_pc,
    find_center_vo,
    half_pair,
    minus_log,
)

DISCS = [(0.0, 0.0, 60.0, 1.0), (25.0, -10.0, 15.0, 2.0), (-30.0, 20.0, 10.0, -0.5),
         (5.0, 35.0, 8.0, 1.5), (-12.0, -40.0, 6.0, 3.0)]


disc_sinogram = partial(phantoms.disc_sinogram, discs=DISCS, sub=8)


TH180 = np.linspace(0, np.pi, 180, endpoint=False)
TH360 = np.linspace(0, 2 * np.pi, 360, endpoint=False)


@pytest.fixture(scope="module")
def symmetric_sino():
    """skimage radon of a point-symmetric image of odd size: mirror-symmetric rows."""
    img = rescale(shepp_logan_phantom(), 0.25)[:99, :99]  # 99 x 99
    img = img + img[::-1, ::-1]
    sino = radon(img, theta=np.degrees(TH180), circle=True).T  # (angle, 99)
    return sino


def test_convention_mirror_symmetric_is_n_over_2(symmetric_sino):
    s = symmetric_sino
    n = s.shape[1]
    np.testing.assert_allclose(s, s[:, ::-1], atol=1e-6 * np.abs(s).max())
    assert find_center_vo(s) == pytest.approx(n / 2, abs=0.051)  # 49.5, not 49.0
    assert find_center_pc(s[0], s[0]) == pytest.approx(n / 2, abs=0.01)
    assert find_center_360(s, s) == pytest.approx(n / 2, abs=0.01)


def test_convention_skimage_radon_even_size():
    """skimage's radon rotates about pixel (N//2, N//2); its middle is N//2 + 0.5 here."""
    img = rescale(shepp_logan_phantom(), 0.32)  # 128 x 128
    n = img.shape[0]
    sino = radon(img, theta=np.degrees(TH180), circle=True).T
    assert find_center_vo(sino) == pytest.approx(n // 2 + 0.5, abs=0.15)


def test_convention_matches_tomosnake_recon_projector():
    from tomosnake.recon import forward_project

    img = rescale(shepp_logan_phantom(), 0.25)[:96, :96].astype(np.float32)
    for c in (48.0, 51.3):
        sino = forward_project(img[None], TH180, center=c, n_det=100)[:, 0, :]
        assert find_center_vo(sino) == pytest.approx(c, abs=0.15)
        pc = find_center(forward_project(img[None], TH360, center=c, n_det=100)[:, 0, :],
                         TH360, "pc")
        assert pc == pytest.approx(c, abs=0.1)


@pytest.mark.parametrize("center", [100.5, 103.3, 95.75, 111.6])
def test_off_centre_180(center):
    sino = disc_sinogram(TH180, 201, center)
    assert abs(find_center_vo(sino) - center) < 0.11  # fine step 0.1 px
    # phase correlation of the 0 and 180 degree projections (180 included here)
    th = np.linspace(0, np.pi, 181)
    s = disc_sinogram(th, 201, center)
    assert abs(find_center(s, th, "pc") - center) < 0.06


@pytest.mark.parametrize("center", [100.5, 97.2, 106.85])
def test_off_centre_360(center):
    sino = disc_sinogram(TH360, 201, center)
    for method, tol in (("vo", 0.11), ("pc", 0.06), ("360", 0.06)):
        assert abs(find_center(sino, TH360, method) - center) < tol, method


def test_shifted_radon_sinogram():
    """A sinogram with a known axis (N/2, odd N) moved by a known sub-pixel amount."""
    img = rescale(shepp_logan_phantom(), 0.25)[:99, :99]
    sino = radon(img, theta=np.degrees(TH360), circle=True).T
    n = sino.shape[1]
    for shift in (3.4, -2.7):
        moved = np.real(np.fft.ifft(np.fft.fft(sino, axis=1) * np.exp(
            -2j * np.pi * np.fft.fftfreq(n)[None, :] * shift), axis=1))
        truth = n / 2 + shift
        for method in ("vo", "pc", "360"):
            assert abs(find_center(moved, TH360, method) - truth) < 0.15, method


def test_odd_number_of_angles_over_360():
    th = np.arange(459) * 2 * np.pi / 459  # 180 deg falls between two angles
    sino = disc_sinogram(th, 201, 98.4)
    a, b = half_pair(sino, th)
    assert a.shape == b.shape == (230, 201)
    for method in ("vo", "pc", "360"):
        assert abs(find_center(sino, th, method) - 98.4) < 0.15, method


def test_half_acquisition_centre_near_edge():
    sino = disc_sinogram(TH360, 120, 100.0)  # object radius 60 > 20 px right of the axis
    assert find_center(sino, TH360, "360") == pytest.approx(100.0, abs=0.1)
    sino = disc_sinogram(TH360, 120, 17.3)
    assert find_center(sino, TH360, "360") == pytest.approx(17.3, abs=0.1)


@pytest.fixture(scope="module")
def neutron(shared_data):
    raw = tifffile.imread(shared_data / "real_scans" / "neutron_sinogram_360_stripes.tif")
    bright = np.percentile(raw.astype(np.float32), 99, axis=1, keepdims=True)
    s = minus_log(raw / bright)
    return s, np.arange(s.shape[0]) * 2 * np.pi / s.shape[0]


def test_neutron_360_centre(neutron):
    s, th = neutron
    found = {m: find_center(s, th, m) for m in ("vo", "pc", "360")}
    # measured: vo 245.55 (mean of the halves), pc 245.375, 360 245.48 (503 columns,
    # detector middle 251.5)
    for c in found.values():
        assert c == pytest.approx(245.45, abs=0.3)
    assert max(found.values()) - min(found.values()) < 0.5
    first, second = half_pair(s, th)
    c1, c2 = find_center_vo(first), find_center_vo(second)
    assert abs(c1 - c2) < 1.0  # measured 245.2 and 245.9


def test_bad_input():
    s = disc_sinogram(TH180, 64, 32.0)
    s[3, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        find_center_vo(s)
    with pytest.raises(ConfigError):
        find_center(disc_sinogram(TH180, 64, 32.0), TH180, "magic")
    with pytest.raises(ConfigError, match="360"):
        find_center(disc_sinogram(TH180, 64, 32.0), TH180, "360")


def test_pc_needs_opposite_projections():
    th = np.linspace(0, np.pi / 2, 90)
    with pytest.raises(InputError, match="180"):
        find_center(disc_sinogram(th, 64, 32.0), th, "pc")


def test_vo_guess_and_range():
    sino = disc_sinogram(TH180, 201, 130.2)
    assert find_center_vo(sino, guess=128.0, search_range=10) == pytest.approx(130.2, abs=0.11)
    sino = ndimage.gaussian_filter1d(sino, 1.0, axis=1)
    assert find_center_vo(sino) == pytest.approx(130.2, abs=0.11)
