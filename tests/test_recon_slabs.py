"""Slab-wise reconstruction from a prepared zarr scan, merging, memory, command line."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from skimage.data import shepp_logan_phantom
from skimage.transform import resize

from tomosnake.io import RawScan, concat_volumes, open_volume, slab_range, write_raw_zarr
from tomosnake.recon import forward_project, reconstruct, reconstruct_slab, reconstruct_store


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


def test_slab_ranges_tile_rows():
    edges = [slab_range(10, i, 3) for i in range(3)]
    assert edges == [(0, 3), (3, 6), (6, 10)]


def test_merged_slabs_equal_monolithic(prepared, tmp_path):
    path, proj, theta = prepared
    slabs = [reconstruct_slab(path, tmp_path / f"slab{i}.zarr", i, 3, algorithm="gridrec")
             for i in range(3)]
    out = concat_volumes(slabs[::-1], tmp_path / "recon.zarr", {"voxel_size_um": 0.5})
    merged = open_volume(out)
    mono = reconstruct(proj, theta, 33.5, algorithm="gridrec")
    assert merged.shape == (24, 64, 64) and merged.dtype == np.float32
    np.testing.assert_array_equal(merged[...], mono)
    attrs = dict(merged.attrs)
    assert attrs["center"] == 33.5 and attrs["algorithm"] == "gridrec"
    assert attrs["filter"] == "shepp" and attrs["voxel_size_um"] == 0.5
    assert attrs["theta_range_deg"] == pytest.approx(180.0)
    with pytest.raises(Exception, match="tile"):
        concat_volumes(slabs[:2], tmp_path / "bad.zarr")


def test_store_loop_equals_monolithic(prepared, tmp_path):
    path, proj, theta = prepared
    out = reconstruct_store(path, tmp_path / "recon.zarr", slab_rows=5, algorithm="fbp")
    np.testing.assert_array_equal(
        open_volume(out)[...], reconstruct(proj, theta, 33.5, algorithm="fbp"))


def _peak(fn) -> int:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_depends_on_slab_not_volume(prepared, tmp_path):
    path, _, _ = prepared
    reconstruct_slab(path, tmp_path / "warm.zarr", 0, 12)  # caches geometry tables
    small = _peak(lambda: reconstruct_slab(path, tmp_path / "a.zarr", 0, 8))  # 3 rows
    large = _peak(lambda: reconstruct_slab(path, tmp_path / "b.zarr", 0, 2))  # 12 rows
    whole = _peak(lambda: reconstruct_slab(path, tmp_path / "d.zarr", 0, 1))  # 24 rows
    assert large > 1.4 * small and whole > 1.2 * large
    loop_small = _peak(lambda: reconstruct_store(path, tmp_path / "c.zarr", slab_rows=3))
    assert loop_small < 0.6 * whole  # the whole 24-row volume in 3-row slabs


def test_cli_recon_from_raw_zarr(prepared, tmp_path):
    from tomosnake.cli import main

    path, proj, theta = prepared
    # a raw scan in transmission (no flats): prepare() normalises it again and takes -log
    raw = tmp_path / "raw.zarr"
    write_raw_zarr(RawScan(np.exp(-proj * 0.02).astype(np.float32), theta,
                           meta={"source": "phantom", "pixel_size_um": 0.5}), raw)
    out = tmp_path / "recon.tif"
    rc = main(["recon", str(raw), str(out), "--center", "33.5", "--rings", "none",
               "--algorithm", "fbp", "--filter", "hann"])
    assert rc == 0
    vol = open_volume(out)
    assert vol.shape == (24, 64, 64)
    expect = reconstruct(proj * 0.02, theta, 33.5, algorithm="fbp", filter_name="hann")
    assert np.corrcoef(vol.ravel(), expect.ravel())[0, 1] > 0.95
    assert main(["recon", str(tmp_path / "missing.zarr"), str(out)]) == 2


def test_crop_keeps_the_central_field_around_the_axis(prepared, tmp_path):
    path, proj, theta = prepared
    out = reconstruct_slab(path, tmp_path / "crop.zarr", 0, 1, crop=32)
    full = reconstruct(proj, theta, 33.5)
    np.testing.assert_array_equal(open_volume(out)[...], full[:, 16:48, 16:48])
    with pytest.raises(Exception, match="crop 80"):
        reconstruct_slab(path, tmp_path / "bad.zarr", 0, 1, crop=80)
