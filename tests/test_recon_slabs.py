"""Slab-wise reconstruction from a prepared zarr scan: equal to one piece, bounded memory, CLI."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from skimage.data import shepp_logan_phantom
from skimage.transform import resize

from tomosnake.io import RawScan, open_volume, write_raw_zarr
from tomosnake.recon import forward_project, reconstruct, reconstruct_rows, reconstruct_store
from tomosnake.recon.slabs import open_prepared, read_rows


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A prepared scan: 24 rows of line integrals, axis at 33.5 of 64 columns."""
    ph = resize(shepp_logan_phantom(), (64, 64)).astype(np.float32)
    vol = np.stack([ph * (1 + 0.02 * z) for z in range(24)])
    theta = np.linspace(0, np.pi, 90, endpoint=False)
    proj = forward_project(vol, theta, center=33.5)
    path = tmp_path_factory.mktemp("scan") / "prep.zarr"
    write_raw_zarr(RawScan(proj, theta, meta={"center": 33.5, "pixel_size_um": 0.5,
                                              "source": "phantom"}), path)
    return path, proj, theta


def test_slabs_equal_monolithic(prepared):
    """Slices do not depend on which other rows share their slab (to float precision)."""
    path, proj, theta = prepared
    zproj, ztheta, attrs = open_prepared(path)
    parts = [reconstruct_rows(read_rows(zproj, z0, z1, "prep"), ztheta, attrs["center"])
             for z0, z1 in ((0, 5), (5, 13), (13, 24))]
    mono = reconstruct(proj, theta, 33.5, algorithm="gridrec")
    np.testing.assert_allclose(np.concatenate(parts), mono, atol=1e-5)


def test_store_loop_equals_monolithic(prepared, tmp_path):
    path, proj, theta = prepared
    out = reconstruct_store(path, tmp_path / "recon.zarr", slab_rows=5, algorithm="fbp")
    vol = open_volume(out)
    np.testing.assert_array_equal(vol[...], reconstruct(proj, theta, 33.5, algorithm="fbp"))
    attrs = dict(vol.attrs)
    assert attrs["center"] == 33.5 and attrs["algorithm"] == "fbp"
    assert attrs["voxel_size_um"] == 0.5 and attrs["theta_range_deg"] == pytest.approx(180.0)


def test_store_with_one_centre_per_row(prepared, tmp_path):
    """A per-row centre (tilted axis) stored with the scan reconstructs each row at its own."""
    path, proj, theta = prepared
    per_row = 33.5 + 0.05 * (np.arange(24) - 12)
    out = reconstruct_store(path, tmp_path / "tilt.zarr", slab_rows=7, center=per_row)
    vol = open_volume(out)[...]
    for z in (0, 11, 23):
        np.testing.assert_allclose(vol[z], reconstruct(proj[:, z:z + 1], theta, per_row[z])[0],
                                   atol=1e-5)


def _peak(fn) -> int:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_depends_on_slab_not_volume(prepared, tmp_path):
    path, _, _ = prepared
    reconstruct_store(path, tmp_path / "warm.zarr", slab_rows=24)  # caches geometry tables
    small = _peak(lambda: reconstruct_store(path, tmp_path / "a.zarr", slab_rows=3))
    whole = _peak(lambda: reconstruct_store(path, tmp_path / "b.zarr", slab_rows=24))
    assert small < 0.6 * whole


def test_cli_recon_from_raw_zarr(prepared, tmp_path):
    from tomosnake.cli import main

    path, proj, theta = prepared
    # a raw scan in transmission (no flats): prepare() normalises it again and takes -log
    raw = tmp_path / "raw.zarr"
    write_raw_zarr(RawScan(np.exp(-proj * 0.02).astype(np.float32), theta,
                           meta={"source": "phantom", "pixel_size_um": 0.5}), raw)
    out = tmp_path / "recon.tif"
    rc = main(["recon", str(raw), str(out), "--center", "33.5", "--rings", "none",
               "--algorithm", "fbp", "--filter", "hann", "--no-flats", "normalised"])
    assert rc == 0
    vol = open_volume(out)
    assert vol.shape == (24, 64, 64)
    expect = reconstruct(proj * 0.02, theta, 33.5, algorithm="fbp", filter_name="hann")
    assert np.corrcoef(vol.ravel(), expect.ravel())[0, 1] > 0.95
    assert main(["recon", str(tmp_path / "missing.zarr"), str(out)]) == 2


def test_crop_keeps_the_central_field_around_the_axis(prepared):
    _, proj, theta = prepared
    full = reconstruct(proj, theta, 33.5)
    np.testing.assert_array_equal(reconstruct_rows(proj, theta, 33.5, crop=32),
                                  full[:, 16:48, 16:48])
    with pytest.raises(Exception, match="crop 80"):
        reconstruct_rows(proj, theta, 33.5, crop=80)
