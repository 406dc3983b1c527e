"""Scan readers on the real files in ../shared/data and writer/reader round trips."""

from __future__ import annotations

import json
import warnings

import h5py
import numpy as np
import pytest

from tomosnake.cli import main
from tomosnake.io import (
    RawScan,
    detect_format,
    read_dxchange,
    read_raw_zarr,
    read_scan,
    write_dxchange,
    write_raw_zarr,
    write_tiff_scan,
)

DIAD = "real_scans/diad_k11-18014/k11-18014.nxs"
TXRM = "real_scans/zeiss_txrm/txrm_test_chip_tomo.txrm"
XRM = "real_scans/zeiss_txrm/test_chip00.xrm"


@pytest.fixture(scope="module")
def diad(shared_data):
    return read_scan(shared_data / DIAD)


def test_diad_frames_split_by_image_key(diad, shared_data):
    assert detect_format(shared_data / DIAD) == "nexus"
    assert diad.proj.shape == (3001, 22, 26) and diad.proj.dtype == np.uint16
    assert diad.flat.shape == (100, 22, 26) and diad.flat.dtype == np.uint16
    assert diad.dark.shape == (100, 22, 26) and diad.dark.dtype == np.uint16
    # frames 0-49 flat, 50-99 dark, 100-3100 projections, 3101-3150 flat, 3151-3200 dark
    np.testing.assert_array_equal(diad.flat[0, 0, :5], [42291, 44976, 44511, 44199, 44754])
    np.testing.assert_array_equal(diad.flat[50, 0, :3], [42989, 45523, 45515])
    np.testing.assert_array_equal(diad.proj[0, 0, :5], [33853, 42988, 34093, 39190, 34873])
    np.testing.assert_array_equal(diad.proj[-1, 21, -3:], [40170, 37967, 37259])
    assert diad.proj[1500, 11, 13] == 29419
    np.testing.assert_array_equal(diad.dark[0, 0, :5], [109, 108, 107, 125, 105])
    assert diad.dark[99, 21, 25] == 107
    assert diad.proj.mean() == pytest.approx(38313.8967343, rel=1e-10)
    assert diad.flat.mean() == pytest.approx(45317.2976049, rel=1e-10)
    assert diad.dark.mean() == pytest.approx(99.2177098, rel=1e-8)
    with h5py.File(shared_data / DIAD.replace(".nxs", "/k11-18014-imaging.h5")) as fh:
        frames = fh["/entry/detector/detector"]
        np.testing.assert_array_equal(diad.proj[0], frames[100])
        np.testing.assert_array_equal(diad.flat[50], frames[3101])
        np.testing.assert_array_equal(diad.dark[50], frames[3151])


def test_diad_angles_are_a_180_degree_scan_in_degrees(diad):
    deg = np.rad2deg(diad.theta)
    assert deg[0] == pytest.approx(89.99511003711643, abs=1e-9)
    assert deg[-1] == pytest.approx(269.99462809348137, abs=1e-9)
    assert np.ptp(deg) == pytest.approx(180.0, abs=0.01)
    assert np.all(np.diff(deg) > 0.057) and np.all(np.diff(deg) < 0.062)
    assert diad.meta["format"] == "nexus"
    assert diad.meta["energy_kev"] is None  # NXsource energy is the 3 GeV ring, not the beam
    assert diad.meta["nexus_paths"]["data"].endswith(
        "k11-18014-imaging.h5:/entry/detector/detector"
    )
    assert diad.meta["nexus_paths"]["angles"].endswith(
        "k11-18014-pcompPanda.h5:/entry/gts_theta.value/gts_theta.value"
    )


def test_ingest_cli_writes_raw_zarr_with_metadata(shared_data, tmp_path, capsys):
    out = tmp_path / "raw.zarr"
    assert main(["ingest", str(shared_data / DIAD), str(out)]) == 0
    assert "3001 projections" in capsys.readouterr().out
    scan = read_raw_zarr(out)
    assert scan.proj.shape == (3001, 22, 26) and scan.proj.dtype == np.uint16
    assert scan.flat.shape[0] == 100 and scan.dark.shape[0] == 100
    assert scan.meta["format"] == "nexus" and scan.meta["source"].endswith("k11-18014.nxs")
    assert scan.meta["n_flat"] == 100 and scan.meta["n_dark"] == 100
    assert scan.meta["theta_first_last_deg"] == pytest.approx([89.99511, 269.99463], abs=1e-5)
    assert scan.meta["pixel_size_um"] is None
    assert scan.proj[1500, 11, 13] == 29419


def test_txrm_tomography_series(shared_data):
    assert detect_format(shared_data / TXRM) == "xradia"
    with pytest.warns(UserWarning) as record:  # Xradia files hold no dark fields
        scan = read_scan(shared_data / TXRM)
    messages = " ".join(str(w.message) for w in record)
    assert "no reference image" in messages and "no dark fields" in messages
    assert scan.proj.shape == (7, 256, 256) and scan.proj.dtype == np.uint16
    assert scan.flat is None and scan.dark is None
    np.testing.assert_allclose(
        np.rad2deg(scan.theta),
        [-45.018002, -30.014126, -15.014126, -0.014125, 14.985876, 29.985876, 44.985878],
        atol=1e-5,
    )
    assert scan.proj[3, 128, 128] == 400
    np.testing.assert_array_equal(scan.proj[0, 0, :4], [10, 11, 16, 17])
    np.testing.assert_array_equal(scan.proj[6, 255, 250:], [10, 7, 9, 11, 3, 9])
    assert int(scan.proj[3].sum(dtype=np.int64)) == 6923329
    assert scan.proj.max() == 476
    assert scan.meta["pixel_size_um"] == pytest.approx(0.15578948, rel=1e-6)
    assert scan.meta["energy_kev"] == pytest.approx(9.200017, rel=1e-6)
    assert scan.meta["exposure_s"] == [5.0] * 7


def test_xrm_single_image_with_reference(shared_data):
    with pytest.warns(UserWarning, match="no dark fields"):
        scan = read_scan(shared_data / XRM)
    assert scan.proj.shape == (1, 512, 512) and scan.proj.dtype == np.uint16
    assert scan.flat.shape == (1, 512, 512) and scan.flat.dtype == np.uint16
    assert np.rad2deg(scan.theta[0]) == pytest.approx(-0.06, abs=1e-6)
    assert scan.proj[0, 256, 256] == 70 and scan.flat[0, 256, 256] == 336
    np.testing.assert_array_equal(scan.proj[0, 0, :4], [15, 15, 12, 21])
    assert scan.flat.mean() == pytest.approx(297.48001, rel=1e-6)
    assert scan.meta["pixel_size_um"] == pytest.approx(0.07789474, rel=1e-6)
    assert scan.meta["energy_kev"] == pytest.approx(7.1910464, rel=1e-6)


def make_scan(dtype=np.uint16, n=6, flats=True) -> RawScan:
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    high = info.max if info else 1.0

    def frames(k):
        values = rng.uniform(0, high, (k, 5, 7))
        return values.astype(dtype)

    return RawScan(
        proj=frames(n),
        theta=np.linspace(0, np.pi, n, endpoint=False),
        flat=frames(3) if flats else None,
        dark=frames(2) if flats else None,
        meta={
            "source": "test",
            "format": "simulated",
            "pixel_size_um": 0.65,
            "energy_kev": 25.0,
            "distance_m": 0.05,
            "sample": "NMC811",
            "truth": {"center": 3.5},
        },
    )


def assert_same_scan(a: RawScan, b: RawScan) -> None:
    for name in ("proj", "flat", "dark"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None)
        if x is not None:
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(a.theta, b.theta, rtol=0, atol=1e-15)
    for key in ("pixel_size_um", "energy_kev", "distance_m", "sample", "truth"):
        assert a.meta[key] == b.meta[key], key


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_dxchange_round_trip(tmp_path, dtype):
    scan = make_scan(dtype)
    path = write_dxchange(scan, tmp_path / "scan.h5")
    assert detect_format(path) == "dxchange"
    back = read_scan(path)
    assert_same_scan(scan, back)
    assert back.meta["format"] == "dxchange" and back.meta["source"] == str(path)
    with h5py.File(path) as fh:  # what a beamline writes: theta in degrees
        np.testing.assert_allclose(fh["/exchange/theta"][:], np.rad2deg(scan.theta))
        assert fh["/exchange/theta"].attrs["units"] == "deg"


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_tiff_scan_round_trip(tmp_path, dtype):
    scan = make_scan(dtype)
    folder = write_tiff_scan(scan, tmp_path / "scan")
    assert detect_format(folder) == "tiff"
    assert sorted(p.name for p in folder.iterdir())[:2] == ["dark_00000.tif", "dark_00001.tif"]
    side = json.loads((folder / "scan.json").read_text())
    assert side["angles_deg"][1] == pytest.approx(30.0) and side["pixel_size_um"] == 0.65
    back = read_scan(folder)
    assert_same_scan(scan, back)
    assert back.meta["format"] == "tiff"


def test_raw_zarr_round_trip_keeps_metadata(tmp_path):
    scan = make_scan()
    write_raw_zarr(read_dxchange(write_dxchange(scan, tmp_path / "s.h5")), tmp_path / "raw.zarr")
    back = read_raw_zarr(tmp_path / "raw.zarr")
    assert_same_scan(scan, back)
    assert back.meta["format"] == "dxchange" and back.meta["source"].endswith("s.h5")
    assert back.meta["n_proj"] == 6 and back.meta["theta_first_last_deg"] == pytest.approx([0, 150])


def test_dark_only_zero_chunks_survive_raw_zarr(tmp_path):
    scan = make_scan()
    scan.dark[:] = 0  # an all-fill-value chunk must still be written (not taken as missing)
    write_raw_zarr(scan, tmp_path / "raw.zarr")
    np.testing.assert_array_equal(read_raw_zarr(tmp_path / "raw.zarr").dark, 0)


@pytest.mark.parametrize(
    ("values", "units", "option", "expected_deg"),
    [
        ([0.0, 90.0, 180.0], None, "auto", [0, 90, 180]),  # degrees, recognised by value
        ([0.0, np.pi / 2, np.pi], None, "auto", [0, 90, 180]),  # radians by value
        ([0.0, 1.0, 2.0], "deg", "auto", [0, 1, 2]),  # small tilt: the units attribute decides
        ([0.0, 1.0, 2.0], None, "deg", [0, 1, 2]),  # ... or the theta_unit option
        ([0.0, np.pi], "radians", "auto", [0, 180]),
    ],
)
def test_dxchange_theta_units(tmp_path, values, units, option, expected_deg):
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as fh:
        fh["/exchange/data"] = np.ones((len(values), 2, 3), np.uint16)
        fh["/exchange/data_white"] = np.ones((1, 2, 3), np.uint16)
        fh["/exchange/data_dark"] = np.zeros((1, 2, 3), np.uint16)
        fh["/exchange/theta"] = values
        if units:
            fh["/exchange/theta"].attrs["units"] = units
        fh["/measurement/instrument/monochromator/energy"] = 25000.0  # eV, told by magnitude
    scan = read_scan(path, theta_unit=option)
    np.testing.assert_allclose(np.rad2deg(scan.theta), expected_deg, atol=1e-12)
    assert scan.meta["energy_kev"] == pytest.approx(25.0)


def write_nexus(tmp_path, key, angles, target="scan/frames.h5", nxtomo=False):
    """A NeXus master ``tmp_path/m/scan.nxs`` whose frames are external links."""
    master = tmp_path / "m" / "scan.nxs"
    data_file = master.parent / target
    data_file.parent.mkdir(parents=True, exist_ok=True)
    frames = np.arange(len(key) * 2 * 3, dtype=np.uint16).reshape(len(key), 2, 3)
    with h5py.File(data_file, "w") as fh:
        fh["/entry/detector/detector"] = frames
    with h5py.File(master, "w") as fh:
        entry = fh.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        if nxtomo:
            entry["definition"] = "NXtomo"
        det = entry.create_group("instrument/detector")
        det.attrs["NX_class"] = "NXdetector"
        det["data"] = h5py.ExternalLink(target, "/entry/detector/detector")
        det["image_key"] = np.asarray(key, np.int32)
        det["x_pixel_size"] = 6.5e-7
        det["x_pixel_size"].attrs["units"] = "m"
        entry["sample/rotation_angle"] = np.asarray(angles, float)
        entry["sample/rotation_angle"].attrs["units"] = "degrees"
    return master, frames


@pytest.mark.parametrize("nxtomo", [False, True])
def test_nexus_image_key_split_and_links(tmp_path, nxtomo):
    key = [1, 2, 0, 0, 0, 3, 0, 1]  # 3 = invalid frame, dropped
    angles = [0, 0, 0, 45, 90, 100, 135, 135]
    master, frames = write_nexus(tmp_path, key, angles, nxtomo=nxtomo)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # flats and darks present: no warning
        scan = read_scan(master)
    np.testing.assert_array_equal(scan.proj, frames[[2, 3, 4, 6]])
    np.testing.assert_array_equal(scan.flat, frames[[0, 7]])
    np.testing.assert_array_equal(scan.dark, frames[[1]])
    np.testing.assert_allclose(np.rad2deg(scan.theta), [0, 45, 90, 135])
    assert scan.meta["pixel_size_um"] == pytest.approx(0.65)


def test_nexus_detected_by_content_and_tiff_angles_txt(tmp_path):
    master, frames = write_nexus(tmp_path, [1, 2, 0, 0], [0, 0, 10, 20])
    renamed = master.with_suffix(".h5")  # NXentry content, no /exchange/data
    master.rename(renamed)
    assert detect_format(renamed) == "nexus"
    np.testing.assert_array_equal(read_scan(renamed).proj, frames[2:])
    folder = write_tiff_scan(make_scan(n=3), tmp_path / "tiffs")
    (folder / "scan.json").unlink()  # a beamline writing only frames and an angles file
    (folder / "angles.txt").write_text("0\n60\n120\n")
    scan = read_scan(folder)
    np.testing.assert_allclose(np.rad2deg(scan.theta), [0, 60, 120])
    assert scan.meta["pixel_size_um"] is None and scan.proj.shape == (3, 5, 7)
