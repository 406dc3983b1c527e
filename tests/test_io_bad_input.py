"""Bad input to the scan readers and volume stores: one clear error naming the file/dataset."""

from __future__ import annotations

import os
import shutil

import h5py
import numpy as np
import pytest
import tifffile
from test_io_scans import make_scan, write_nexus

from tomosnake.cli import main
from tomosnake.errors import ConfigError, InputError
from tomosnake.io import (
    RawScan,
    open_volume,
    read_dxchange,
    read_nexus,
    read_raw_zarr,
    read_scan,
    write_dxchange,
    write_raw_zarr,
    write_tiff_scan,
    write_volume,
)


def write_h5(path, **datasets):
    with h5py.File(path, "w") as fh:
        for name, value in datasets.items():
            fh["/exchange/" + name] = value
    return path


def valid(n=4, z=3, x=5):
    return {
        "data": np.ones((n, z, x), np.uint16),
        "data_white": np.full((2, z, x), 10, np.uint16),
        "data_dark": np.zeros((2, z, x), np.uint16),
        "theta": np.linspace(0, 180, n, endpoint=False),
    }


def test_truncated_hdf5_names_the_file(tmp_path):
    path = write_dxchange(make_scan(n=40), tmp_path / "scan.h5")
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(InputError, match=r"scan\.h5.*(truncated|corrupt)"):
        read_scan(path)
    with pytest.raises(InputError, match=r"scan\.h5"):
        read_dxchange(path)


def test_corrupt_hdf5_names_the_file(tmp_path):
    path = tmp_path / "garbage.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(4000))
    with pytest.raises(InputError, match=r"garbage\.h5: not a readable HDF5 file"):
        read_scan(path)


def test_missing_exchange_data(tmp_path):
    parts = valid()
    del parts["data"]
    path = write_h5(tmp_path / "nodata.h5", **parts)
    with pytest.raises(InputError, match=r"nodata\.h5.*/exchange/data is missing"):
        read_dxchange(path)


def test_missing_flats_and_darks_give_none_and_a_warning(tmp_path):
    parts = valid()
    del parts["data_white"], parts["data_dark"]
    path = write_h5(tmp_path / "noflat.h5", **parts)
    with pytest.warns(UserWarning) as record:
        scan = read_scan(path)
    messages = [str(w.message) for w in record]
    assert any("noflat.h5: no flat fields (/exchange/data_white missing)" in m for m in messages)
    assert any("noflat.h5: no dark fields (/exchange/data_dark missing)" in m for m in messages)
    assert scan.flat is None and scan.dark is None and scan.proj.shape == (4, 3, 5)


def test_wrong_dimensionality(tmp_path):
    parts = valid()
    parts["data"] = np.ones((3, 5), np.uint16)
    path = write_h5(tmp_path / "flat2d.h5", **parts)
    with pytest.raises(InputError, match=r"flat2d\.h5:/exchange/data: expected a 3-D.*\(3, 5\)"):
        read_scan(path)


def test_flat_shape_differs_from_projections(tmp_path):
    parts = valid()
    parts["data_white"] = np.ones((2, 3, 6), np.uint16)
    path = write_h5(tmp_path / "flatshape.h5", **parts)
    with pytest.raises(InputError, match=r"flatshape\.h5: flat fields have shape \(2, 3, 6\)"):
        read_scan(path)


def test_angle_count_not_matching_projections(tmp_path):
    parts = valid()
    parts["theta"] = np.linspace(0, 180, 7)
    path = write_h5(tmp_path / "angles.h5", **parts)
    with pytest.raises(InputError, match=r"angles\.h5:/exchange/theta: 7 angles but .* 4 proj"):
        read_scan(path)


def test_nan_and_inf_in_data(tmp_path):
    parts = valid()
    data = np.ones((4, 3, 5), np.float32)
    data[2, 1, 3] = np.nan
    data[3, 0, 0] = np.inf
    parts["data"] = data
    path = write_h5(tmp_path / "nan.h5", **parts)
    with pytest.raises(InputError, match=r"nan\.h5:/exchange/data: 2 NaN/inf .*\(2, 1, 3\)"):
        read_scan(path)


def test_nan_angles(tmp_path):
    parts = valid()
    parts["theta"] = np.array([0, 45, np.nan, 135.0])
    path = write_h5(tmp_path / "nantheta.h5", **parts)
    with pytest.raises(InputError, match=r"nantheta\.h5:/exchange/theta: 1 NaN/inf"):
        read_scan(path)


def test_nexus_link_to_missing_file(tmp_path):
    master, _ = write_nexus(tmp_path, [0, 0, 1, 2], [0, 90, 0, 0])
    shutil.rmtree(master.parent / "scan")
    with pytest.raises(InputError) as err:
        read_scan(master)
    msg = str(err.value)
    assert "external link" in msg and "scan.nxs:/entry/instrument/detector/data" in msg
    assert "scan/frames.h5" in msg and "does not exist" in msg


def test_nexus_link_outside_allowed_folder_is_refused(tmp_path):
    master, frames = write_nexus(tmp_path, [0, 0, 1, 2], [0, 90, 0, 0], target="../outside.h5")
    with pytest.raises(
        InputError, match=r"external link .*scan\.nxs.* -> \.\./outside\.h5.*refused"
    ):
        read_nexus(master)
    scan = read_nexus(master, allowed_dirs=[tmp_path])  # explicitly allowed
    np.testing.assert_array_equal(scan.proj, frames[:2])


def test_nexus_image_key_length_mismatch(tmp_path):
    master, _ = write_nexus(tmp_path, [0, 0, 1, 2], [0, 90, 0, 0])
    with h5py.File(master, "r+") as fh:
        del fh["entry/instrument/detector/image_key"]
        fh["entry/instrument/detector/image_key"] = np.zeros(3, np.int32)
    with pytest.raises(InputError, match=r"image_key has 3 entries but .*frames\.h5.* 4 frames"):
        read_scan(master)


def test_tiff_stack_missing_frame(tmp_path):
    folder = write_tiff_scan(make_scan(), tmp_path / "scan")
    (folder / "proj_00002.tif").unlink()
    with pytest.raises(InputError, match=r"proj frame 2 \(proj_00002\.tif\) is missing"):
        read_scan(folder)


def test_tiff_stack_last_frame_missing_is_an_angle_mismatch(tmp_path):
    folder = write_tiff_scan(make_scan(n=6), tmp_path / "scan")
    (folder / "proj_00005.tif").unlink()
    with pytest.raises(InputError, match=r"scan\.json:angles_deg: 6 angles but .* 5 projections"):
        read_scan(folder)


def test_tiff_stack_frame_of_another_size(tmp_path):
    folder = write_tiff_scan(make_scan(), tmp_path / "scan")
    tifffile.imwrite(folder / "proj_00003.tif", np.zeros((5, 8), np.uint16))
    with pytest.raises(
        InputError, match=r"proj_00003\.tif: frame is \(5, 8\) uint16 but proj_00000"
    ):
        read_scan(folder)


def test_tiff_stack_corrupt_frame(tmp_path):
    folder = write_tiff_scan(make_scan(), tmp_path / "scan")
    (folder / "flat_00001.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(InputError, match=r"flat_00001\.tif: (not a readable TIFF|no image data)"):
        read_scan(folder)


def test_truncated_txrm(tmp_path, shared_data):
    path = tmp_path / "cut.txrm"
    data = (shared_data / "real_scans/zeiss_txrm/txrm_test_chip_tomo.txrm").read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match=r"cut\.txrm"):
        read_scan(path)


def test_unknown_format_lists_supported_formats(tmp_path):
    path = tmp_path / "scan.dat"
    path.write_bytes(b"just bytes")
    with pytest.raises(
        ConfigError, match=r"scan\.dat: unrecognised .*dxchange.*nexus.*tiff.*xradia"
    ):
        read_scan(path)
    with pytest.raises(ConfigError, match=r"unknown scan format 'edf'.*dxchange"):
        read_scan(path, fmt="edf")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"empty: folder is not a recognised scan"):
        read_scan(tmp_path / "empty")
    with pytest.raises(ConfigError, match=r"does not take option\(s\) \['center'\]"):
        read_scan(write_dxchange(make_scan(), tmp_path / "s.h5"), center=3.0)
    with pytest.raises(InputError, match=r"nothere\.h5: no such file"):
        read_scan(tmp_path / "nothere.h5")


def test_zarr_volume_with_missing_chunk(tmp_path):
    path = write_volume(tmp_path / "vol.zarr", np.zeros((4, 3, 3), np.float32), chunks=(1, 3, 3))
    (path / "c" / "2" / "0" / "0").unlink()
    with pytest.raises(InputError, match=r"vol\.zarr: 1 of 4 chunks are missing"):
        open_volume(path)


def test_zarr_volume_with_corrupt_chunk(tmp_path):
    path = write_volume(tmp_path / "vol.zarr", np.ones((4, 3, 3), np.float32), chunks=(1, 3, 3))
    (path / "c" / "1" / "0" / "0").write_bytes(b"not zstd")
    with pytest.raises(InputError, match=r"vol\.zarr: cannot decode chunk data"):
        open_volume(path, verify=True)


def test_raw_zarr_with_missing_or_corrupt_chunk(tmp_path):
    path = write_raw_zarr(make_scan(), tmp_path / "raw.zarr")
    chunk = next((path / "flat" / "c").rglob("*"))
    while chunk.is_dir():
        chunk = next(chunk.iterdir())
    data = chunk.read_bytes()
    chunk.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"raw\.zarr/flat: cannot decode chunk"):
        read_raw_zarr(path)
    chunk.unlink()
    with pytest.raises(InputError, match=r"raw\.zarr/flat: 1 of 1 chunks are missing"):
        read_raw_zarr(path)


def test_raw_scan_checks_shapes():
    with pytest.raises(InputError, match="3 angles but 2 projections"):
        RawScan(proj=np.zeros((2, 3, 4)), theta=np.zeros(3), meta={"source": "x"})


def test_ingest_cli_reports_one_line_and_exit_2(tmp_path, capsys):
    parts = valid()
    parts["theta"] = np.linspace(0, 180, 5)
    path = write_h5(tmp_path / "bad.h5", **parts)
    assert main(["ingest", str(path), str(tmp_path / "raw.zarr")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tomosnake ingest: error: ") and "bad.h5:/exchange/theta" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "raw.zarr").exists()


def test_missing_theta(tmp_path):
    parts = valid()
    del parts["theta"]
    path = write_h5(tmp_path / "notheta.h5", **parts)
    with pytest.raises(InputError, match=r"notheta\.h5: dataset /exchange/theta .* is missing"):
        read_scan(path)
