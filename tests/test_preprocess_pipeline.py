"""``prepare``: raw counts to centred line integrals, on synthetic scans and real files."""

from __future__ import annotations

from functools import partial

import numpy as np
import phantoms
import pytest
import tifffile

from tomosnake.errors import ConfigError, InputError
from tomosnake.io import RawScan, read_raw_zarr, read_scan, write_raw_zarr
from tomosnake.preprocess import stripe_metric
from tomosnake.preprocess.prepare import prepare

DISCS = [(0.0, 0.0, 50.0, 0.01), (20.0, -10.0, 12.0, 0.03), (-25.0, 15.0, 8.0, 0.04),
         (5.0, 30.0, 6.0, 0.05)]


disc_sinogram = partial(phantoms.disc_sinogram, discs=DISCS, sub=4)


def raw_scan(theta, n=128, nz=4, center=67.3, seed=0, stripes=True):
    """Counts with Poisson noise, a detector gain pattern the flats miss (stripes), zingers."""
    rng = np.random.default_rng(seed)
    line = disc_sinogram(theta, n, center)
    flat_level = 20000.0 * (1 + 0.05 * np.sin(np.arange(n) / 7.0))
    gain = np.ones(n)
    if stripes:
        cols = rng.choice(np.arange(10, n - 10), 12, replace=False)
        gain[cols] *= rng.uniform(0.9, 1.1, cols.size)
    counts = flat_level * gain * np.exp(-line)
    proj = rng.poisson(np.repeat(counts[:, None, :], nz, axis=1)).astype(np.float64) + 100
    zing = rng.choice(proj.size, 30, replace=False)
    proj.flat[zing] = 60000
    flat = rng.poisson(np.tile(flat_level, (10, nz, 1))) + 100.0
    dark = rng.poisson(100.0, (5, nz, n)).astype(np.float64)
    meta = {"source": "synthetic.h5", "pixel_size_um": 0.65, "energy_kev": 25.0,
            "distance_m": 0.05}
    return RawScan(proj=proj.astype(np.uint16), theta=theta, flat=flat.astype(np.uint16),
                   dark=dark.astype(np.uint16), meta=meta), line


TH180 = np.linspace(0, np.pi, 181)


def test_prepare_180(tmp_path):
    raw, line = raw_scan(TH180)
    out = prepare(raw)
    assert out.flat is None and out.dark is None
    assert out.proj.dtype == np.float32 and out.proj.shape == raw.proj.shape
    np.testing.assert_array_equal(out.theta, TH180)
    assert out.meta["center"] == pytest.approx(67.3, abs=0.5)  # measured 67.3
    pre = out.meta["preprocess"]
    assert pre["center_method"] == "median of methods" and pre["rings"] == "sort"
    assert pre["center_analysis"]["agreement"]["agree"]
    assert pre["normalisation"] == "flat-field"
    # measured 0.0139 -> 0.0046 (the same scan without gain stripes: 0.0051)
    assert pre["ring_metric_after"] < 0.5 * pre["ring_metric_before"]
    assert out.meta["source"] == "synthetic.h5" and out.meta["pixel_size_um"] == 0.65
    # line integrals: zingers gone, values match the phantom up to noise and stripes
    # (an unremoved zinger, 3x the flat, would give -log(3) = -1.1)
    assert out.proj.min() > -0.1 and out.proj.max() < line.max() + 0.2
    err = out.proj[:, 1] - line
    assert np.sqrt(np.mean(err**2)) < 0.02
    # the result is a valid prep.zarr for the reconstruction stage
    back = read_raw_zarr(write_raw_zarr(out, tmp_path / "prep.zarr"))
    assert back.meta["center"] == out.meta["center"]
    assert back.meta["preprocess"]["rings"] == "sort"


@pytest.mark.parametrize("method", ["pc", "vo"])
def test_prepare_360_kept(method):
    th = np.linspace(0, 2 * np.pi, 240, endpoint=False)
    raw, _ = raw_scan(th, center=61.8, nz=2)
    out = prepare(raw, center_method=method, rings="all")
    assert out.proj.shape == raw.proj.shape  # 360-degree data are kept
    assert out.meta["center"] == pytest.approx(61.8, abs=0.5)
    assert out.meta["preprocess"]["half_acquisition"] is False
    assert out.meta["preprocess"]["theta_range_deg"] == pytest.approx(360.0)


def test_prepare_half_acquisition_auto():
    th = np.linspace(0, 2 * np.pi, 240, endpoint=False)
    raw, _ = raw_scan(th, n=80, center=70.0, nz=2, stripes=False)  # object radius 50 > 10
    out = prepare(raw, rings="none")
    pre = out.meta["preprocess"]
    assert pre["half_acquisition"] is True and pre["center_method"] == "360"
    c = pre["center_input_detector"]
    assert c == pytest.approx(70.0, abs=0.3)
    width = 2 * int(np.ceil(c))
    assert out.proj.shape == (120, 2, width)
    assert out.meta["center"] == width / 2  # middle of the stitched detector
    full = disc_sinogram(out.theta, width, width / 2)
    assert np.sqrt(np.mean((out.proj[:, 0] - full) ** 2)) < 0.03


def test_given_centre_and_no_stripe_removal():
    raw, _ = raw_scan(TH180, nz=2)
    out = prepare(raw, center=64.0, rings="none", zingers=False)
    assert out.meta["center"] == 64.0
    pre = out.meta["preprocess"]
    assert pre["center_method"] == "given"
    assert pre["ring_metric_before"] == pre["ring_metric_after"]


def test_paganin_from_meta():
    raw, _ = raw_scan(TH180, nz=8, stripes=False)
    plain = prepare(raw, center=67.3, rings="none")
    pag = prepare(raw, center=67.3, rings="none", paganin={"delta_beta": 200.0})
    assert pag.meta["preprocess"]["paganin"]["pixel_size_um"] == 0.65
    # a low-pass: less high-frequency noise, same mean line integral
    assert np.std(np.diff(pag.proj, axis=2)) < 0.5 * np.std(np.diff(plain.proj, axis=2))
    # the filter keeps the mean transmission (not the mean of its logarithm)
    assert np.exp(-pag.proj).mean() == pytest.approx(np.exp(-plain.proj).mean(), rel=0.01)


def test_already_normalised_input():
    raw, line = raw_scan(TH180, nz=2, stripes=False)
    norm = RawScan(proj=np.exp(-np.repeat(line[:, None], 2, 1)).astype(np.float32), theta=TH180,
                   meta={"source": "norm.tif"})
    with pytest.raises(InputError, match=r"norm\.tif: no flat fields.*no_flats: normalised"):
        prepare(norm, rings="none", zingers=False)  # the fallback must be chosen explicitly
    out = prepare(norm, rings="none", zingers=False, no_flats="normalised")
    assert out.meta["preprocess"]["normalisation"] == "already normalised"
    np.testing.assert_allclose(out.proj[:, 0], line, atol=1e-5)
    assert out.meta["center"] == pytest.approx(67.3, abs=0.15)


def test_bad_inputs():
    raw, _ = raw_scan(TH180, nz=2)
    bad = RawScan(proj=raw.proj.astype(np.float32), theta=TH180, flat=raw.flat, dark=raw.dark,
                  meta={"source": "nan.h5"})
    bad.proj[5, 1, 7] = np.nan
    with pytest.raises(InputError, match=r"nan\.h5.*NaN"):
        prepare(bad)
    dark_flat = RawScan(proj=raw.proj, theta=TH180, flat=raw.dark, dark=raw.dark,
                        meta={"source": "swapped.h5"})
    with pytest.raises(InputError, match=r"swapped\.h5.*not brighter"):
        prepare(dark_flat)
    with pytest.raises(ConfigError, match="rings"):
        prepare(raw, rings="magic")
    with pytest.raises(ConfigError, match="center"):
        prepare(raw, center="middle")
    with pytest.raises(ConfigError, match="360"):
        prepare(raw, half_acquisition=True)
    no_dark = RawScan(proj=raw.proj, theta=TH180, flat=raw.flat, meta={"source": "nodark.h5"})
    with pytest.raises(InputError, match=r"nodark\.h5.*no_darks: zero"):
        prepare(no_dark)
    assert "dark = 0" in prepare(no_dark, no_darks="zero").meta["preprocess"]["normalisation"]
    no_px = RawScan(proj=raw.proj, theta=TH180, flat=raw.flat, dark=raw.dark, meta={})
    with pytest.raises(ConfigError, match="pixel_size_um"):
        prepare(no_px, paganin={"delta_beta": 100.0})


def test_real_neutron_sinogram(shared_data):
    raw = tifffile.imread(shared_data / "real_scans" / "neutron_sinogram_360_stripes.tif")
    th = np.arange(raw.shape[0]) * 2 * np.pi / raw.shape[0]
    scan = RawScan(proj=raw[:, None, :], theta=th, meta={"source": "neutron.tif"})
    out = prepare(scan, rings="all", zingers=False, no_flats="row_bright")
    pre = out.meta["preprocess"]
    assert pre["normalisation"] == "row bright level"
    assert out.meta["center"] == pytest.approx(245.45, abs=0.3)  # measured 245.5 (vo)
    assert pre["half_acquisition"] is False and out.proj.shape == (459, 1, 503)
    # measured 0.153 -> 0.00019 (809x)
    assert pre["ring_metric_before"] / pre["ring_metric_after"] > 200
    assert stripe_metric(out.proj[:, 0]) == pytest.approx(pre["ring_metric_after"])


def test_real_diad_nexus(shared_data):
    scan = read_scan(shared_data / "real_scans" / "diad_k11-18014" / "k11-18014.nxs")
    out = prepare(scan)
    assert out.proj.shape == scan.proj.shape and np.all(np.isfinite(out.proj))
    c_vo = out.meta["center"]
    c_pc = prepare(scan, center_method="pc").meta["center"]
    assert 0 < c_vo < scan.proj.shape[2]
    assert abs(c_vo - c_pc) < 1.0  # measured 12.8 and 12.975 on 26 columns
