"""The beamtime simulator: ground truth is what was asked, and the raw data carry its defects."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from tomosnake.cli import main
from tomosnake.io import read_scan
from tomosnake.preprocess.normalize import minus_log, normalize
from tomosnake.recon import reconstruct
from tomosnake.synth import PHASES, PhantomSpec, ScanSpec, make_spec, nmc_phantom, simulate_scan

SMALL = PhantomSpec(shape=(8, 64, 64), seed=3)


def test_phantom_has_three_phases_at_requested_nmc_fraction():
    labels = nmc_phantom(PhantomSpec(shape=(24, 96, 96), nmc_fraction=0.45, seed=5))
    frac = np.bincount(labels.ravel(), minlength=3) / labels.size
    assert set(np.unique(labels)) == set(PHASES.values())
    assert frac[PHASES["nmc"]] == pytest.approx(0.45, abs=0.03)
    assert 0.04 < frac[PHASES["cbd"]] < 0.2  # thin binder phase, like a real cathode
    assert frac[PHASES["pore"]] > 0.3


def test_cbd_clings_to_nmc():
    """Every CBD voxel lies within the neck radius of an NMC particle."""
    from scipy import ndimage

    spec = PhantomSpec(shape=(16, 64, 64), seed=2)
    labels = nmc_phantom(spec)
    dist = ndimage.distance_transform_edt(labels != PHASES["nmc"])
    assert dist[labels == PHASES["cbd"]].max() <= spec.neck_radius * 2 + 1


def test_phantom_is_reproducible_and_seed_dependent():
    assert np.array_equal(nmc_phantom(SMALL), nmc_phantom(SMALL))
    assert not np.array_equal(nmc_phantom(SMALL), nmc_phantom(PhantomSpec(shape=SMALL.shape)))


@pytest.fixture(scope="module")
def scan180():
    return simulate_scan(ScanSpec(phantom=SMALL, n_angles=121, center_offset_px=4.25))


def _recon(scan, center):
    line = minus_log(normalize(scan.proj, scan.flat, scan.dark))
    return reconstruct(line, scan.theta, center=center)


def _crop(vol, n):
    c = (vol.shape[-1] - n) // 2
    return vol[:, c : c + n, c : c + n]


def test_true_centre_is_where_the_axis_is(scan180):
    """Reconstructing at the recorded true centre matches the phantom; 2 px off is worse."""
    scan, truth = scan180
    n_det = scan.proj.shape[-1]
    assert truth["center"] == pytest.approx(n_det / 2 + 4.25)
    good = _crop(_recon(scan, truth["center"]), 64)
    bad = _crop(_recon(scan, truth["center"] + 2.0), 64)
    mu = truth["mu"]
    r_good = np.corrcoef(good.ravel(), mu.ravel())[0, 1]
    r_bad = np.corrcoef(bad.ravel(), mu.ravel())[0, 1]
    assert r_good > 0.9
    assert r_bad < r_good - 0.05


def test_reconstructed_grey_levels_order_the_phases(scan180):
    scan, truth = scan180
    vol = _crop(_recon(scan, truth["center"]), 64)
    means = {name: vol[truth["labels"] == code].mean() for name, code in PHASES.items()}
    assert means["pore"] < means["cbd"] < means["nmc"]
    assert means["nmc"] == pytest.approx(0.03, rel=0.15)  # attenuation per voxel of NMC


def test_raw_data_carry_flats_darks_noise_rings_and_zingers(scan180):
    scan, truth = scan180
    assert scan.proj.dtype == np.uint16
    assert scan.flat.shape[0] == 10 and scan.dark.shape[0] == 5
    assert 80 < scan.dark.mean() < 120  # dark current about 100 counts
    frac_zinger = (scan.proj == 65535).mean()
    assert 1e-4 < frac_zinger < 4e-4  # rate 2e-4
    flat = scan.flat.astype(float)
    rel_noise = flat.std(axis=0).mean() / flat.mean()
    assert 0.005 < rel_noise < 0.02  # Poisson noise of ~20000 counts (0.7 %)
    # miscalibrated columns stand out as stripes in the normalised sinogram
    line = minus_log(normalize(scan.proj, scan.flat, scan.dark))
    col = np.median(line, axis=(0, 1))
    resid = np.abs(col[1:-1] - (col[:-2] + col[2:]) / 2)
    top = set(np.argsort(resid)[-len(truth["ring_columns"]) :] + 1)
    # adjacent defect columns can hide each other, so ask for most, not all
    assert len(top & set(truth["ring_columns"])) >= 4


def test_360_scan_spans_full_turn():
    scan, _ = simulate_scan(ScanSpec(phantom=SMALL, n_angles=90, theta_range_deg=360))
    assert scan.theta[-1] == pytest.approx(2 * np.pi * 89 / 90)


def test_bad_spec_is_a_clear_error():
    from tomosnake.errors import ConfigError

    with pytest.raises(ConfigError, match="range"):
        make_spec(range=90)
    with pytest.raises(ConfigError, match="shape"):
        make_spec(shape=(4, 64, 64))


def test_photons_that_would_saturate_the_detector_are_refused():
    from tomosnake.errors import ConfigError

    scan, _ = simulate_scan(ScanSpec(phantom=SMALL, n_angles=20, photons=50000))
    assert scan.flat.max() < 65535  # the largest allowed dose stays below saturation
    with pytest.raises(ConfigError, match="saturates the 16-bit detector"):
        simulate_scan(ScanSpec(phantom=SMALL, n_angles=20, photons=60000))


@pytest.mark.parametrize("fmt,name", [("dxchange", "scan.h5"), ("tiff", "scan_tiff")])
def test_cli_writes_beamline_formats_with_truth(tmp_path, fmt, name):
    out = tmp_path / name
    rc = main(["simulate", str(out), "--format", fmt, "--shape", "8,48,48", "--angles", "60",
               "--center-offset", "-2.5", "--seed", "4"])
    assert rc == 0
    scan = read_scan(out)
    assert scan.proj.shape[0] == 60 and scan.proj.shape[1] == 8
    assert scan.flat is not None and scan.dark is not None
    assert scan.meta["pixel_size_um"] == pytest.approx(0.25)
    truth = zarr.open_group(store=str(tmp_path / f"{name.removesuffix('.h5')}_truth.zarr"))
    assert truth["labels"].shape == (8, 48, 48)
    assert truth.attrs["center"] == pytest.approx(scan.proj.shape[-1] / 2 - 2.5)
    assert sum(truth.attrs["volume_fractions"].values()) == pytest.approx(1.0)


def test_cli_rejects_bad_option(capsys):
    assert main(["simulate", "x.h5", "--angles", "3"]) == 2
    assert "angles" in capsys.readouterr().err
