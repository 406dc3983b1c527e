"""Block reader (open_scan) and header facts (scan_info): real files, bytes read, the cache."""

from __future__ import annotations

import io
import os
import shutil

import h5py
import numpy as np
import olefile
import pytest
import tifffile
from test_io_scans import make_scan, write_nexus

from tomosnake.errors import InputError
from tomosnake.io import (
    RawScan,
    open_scan,
    read_scan,
    scan_info,
    write_dxchange,
    write_tiff_scan,
)
from tomosnake.io import reader as reader_module
from tomosnake.io import readscan as readscan_module
from tomosnake.io import tiffscan as tiffscan_module
from tomosnake.io import xradia as xradia_module
from tomosnake.io.reader import missing_frames
from tomosnake.io.xradia import parse_shifts

DIAD = "real_scans/diad_k11-18014/k11-18014.nxs"
TXRM = "real_scans/zeiss_txrm/txrm_test_chip_tomo.txrm"
XRM = "real_scans/zeiss_txrm/test_chip00.xrm"


def missing(info) -> set[str]:
    return {missing_frames(p) for p in info.problems} - {None}


def test_diad_header_facts(shared_data):
    info = scan_info(shared_data / DIAD)
    assert info.format == "nexus" and info.shape == (3001, 22, 26) and info.dtype == "uint16"
    assert info.n_theta == 3001 and info.n_flat == 100 and info.n_dark == 100
    # frames 0-49 flat, 50-99 dark, 100-3100 projections, 3101-3150 flat, 3151-3200 dark
    assert info.flat_position == "both"
    assert info.theta_first_deg == pytest.approx(89.99511003711643, abs=1e-9)
    assert info.theta_last_deg == pytest.approx(269.99462809348137, abs=1e-9)
    # 3001 angles over 179.9995 degrees: one step (0.06 deg) more is the range covered
    assert info.theta_span_deg == pytest.approx(179.99951805636494 * 3001 / 3000, abs=1e-9)
    assert info.pixel_size_um is None and info.energy_kev is None and info.problems == ()
    assert info.raw_bytes == 3001 * 22 * 26 * 2 and not info.alignment_shifts


def test_diad_blocks_equal_whole_read_and_the_frames_on_disk(shared_data):
    whole = read_scan(shared_data / DIAD)
    with open_scan(shared_data / DIAD) as scan:
        block = scan.projections(1000, 1013)
        np.testing.assert_array_equal(block, whole.proj[1000:1013])
        assert block.dtype == np.uint16
        np.testing.assert_array_equal(scan.theta(), whole.theta)
        flat_all, flat_before, flat_after = (scan.flat_mean(w) for w in ("all", "before", "after"))
        dark = scan.dark_mean()
    assert flat_all.dtype == np.float32 and flat_all.shape == (22, 26)
    np.testing.assert_allclose(flat_all, whole.flat.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(dark, whole.dark.mean(axis=0), rtol=1e-6)
    with h5py.File(shared_data / DIAD.replace(".nxs", "/k11-18014-imaging.h5")) as fh:
        frames = fh["/entry/detector/detector"]
        np.testing.assert_array_equal(block, frames[1100:1113])
        np.testing.assert_allclose(flat_before, frames[0:50].mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(flat_after, frames[3101:3151].mean(axis=0), rtol=1e-6)
    assert not np.allclose(flat_before, flat_after)  # the beam changed during the scan


def test_txrm_header_facts_and_alignment_shifts(shared_data):
    info = scan_info(shared_data / TXRM)
    assert info.format == "txrm" and info.shape == (7, 256, 256) and info.dtype == "uint16"
    assert info.n_theta == 7 and info.n_flat == 0 and info.n_dark == 0
    assert info.theta_first_deg == pytest.approx(-45.018002, abs=1e-5)
    assert info.theta_last_deg == pytest.approx(44.985878, abs=1e-5)
    assert info.theta_span_deg == pytest.approx(90.00388 * 7 / 6, abs=1e-4)  # 15-degree steps
    assert info.pixel_size_um == pytest.approx(0.15578948, rel=1e-6)
    assert info.energy_kev == pytest.approx(9.200017, rel=1e-6)
    assert info.alignment_shifts
    assert missing(info) == {"flat", "dark"} and len(info.problems) == 2
    with open_scan(shared_data / TXRM) as scan:
        shifts = scan.shifts()
        block = scan.projections(2, 5)
        assert scan.flat_mean() is None and scan.dark_mean() is None
    assert shifts.shape == (7, 2) and shifts.dtype == np.float64
    # (dy, dx) from Alignment/Y-Shifts and Alignment/X-Shifts, pixels
    np.testing.assert_allclose(shifts[0], [0.24399558, 0.25915927], rtol=1e-6)
    np.testing.assert_allclose(shifts[6], [-0.24837485, 0.33221108], rtol=1e-6)
    with pytest.warns(UserWarning) as record:
        whole = read_scan(shared_data / TXRM)
    messages = [str(w.message) for w in record]
    assert any("no flat fields (no reference image ReferenceData/Image)" in m for m in messages)
    assert any("no dark fields (Xradia files hold none)" in m for m in messages)
    np.testing.assert_array_equal(block, whole.proj[2:5])
    assert block[1, 128, 128] == 400


def test_xrm_header_facts_and_reference_as_flat(shared_data):
    info = scan_info(shared_data / XRM)
    assert info.format == "xrm" and info.shape == (1, 512, 512) and info.n_theta == 1
    assert info.theta_first_deg == pytest.approx(-0.06, abs=1e-6)
    assert info.theta_span_deg is None  # one angle covers no range
    assert info.n_flat == 1 and info.n_dark == 0 and missing(info) == {"dark"}
    assert info.pixel_size_um == pytest.approx(0.07789474, rel=1e-6)
    with open_scan(shared_data / XRM) as scan:
        assert scan.shifts() is None
        flat = scan.flat_mean()
        with pytest.warns(UserWarning, match="no dark fields"):
            whole = read_scan(shared_data / XRM)
        np.testing.assert_array_equal(scan.projections(0, 1), whole.proj)
    assert flat.dtype == np.float32 and flat[256, 256] == 336
    assert flat.mean() == pytest.approx(297.48001, rel=1e-6)


def test_txrm_without_shifts(shared_data, tmp_path):
    path = tmp_path / "noshift.txrm"
    shutil.copy(shared_data / TXRM, path)
    with olefile.OleFileIO(str(path), write_mode=True) as ole:  # same-size streams, zeros
        for name in ("Alignment/X-Shifts", "Alignment/Y-Shifts"):
            ole.write_stream(name, bytes(28))
    info = scan_info(path)
    assert not info.alignment_shifts
    with open_scan(path) as scan:
        assert scan.shifts() is None


def test_parse_shifts_from_stream_bytes():
    x = np.asarray([1.5, -2.0, 0.25], "<f4").tobytes()
    y = np.asarray([0.5, 3.0, -1.0, 9.0], "<f4").tobytes()  # extra values are ignored
    np.testing.assert_array_equal(
        parse_shifts(x, y, 3, "f.txrm"), [[0.5, 1.5], [3.0, -2.0], [-1.0, 0.25]]
    )
    with pytest.raises(InputError, match=r"f\.txrm: Alignment/X-Shifts .* 3 and 4 values for 5"):
        parse_shifts(x, y, 5, "f.txrm")


class CountingFile(io.FileIO):
    """A read-only file that counts the bytes HDF5 reads through it."""

    read_bytes = 0

    def readinto(self, buffer):  # type: ignore[override]
        n = super().readinto(buffer)
        CountingFile.read_bytes += n or 0
        return n

    def read(self, size=-1):  # type: ignore[override]
        data = super().read(size)
        CountingFile.read_bytes += len(data)
        return data


def test_hdf5_block_read_reads_only_its_frames(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    n, nz, nx = 64, 64, 64
    frame = nz * nx * 2
    scan = RawScan(
        proj=rng.integers(0, 60000, (n, nz, nx)).astype(np.uint16),
        theta=np.linspace(0, np.pi, n, endpoint=False),
        flat=rng.integers(0, 60000, (4, nz, nx)).astype(np.uint16),
        dark=np.zeros((2, nz, nx), np.uint16),
    )
    path = write_dxchange(scan, tmp_path / "scan.h5")
    real_file = h5py.File
    monkeypatch.setattr(
        h5py, "File", lambda name, mode="r", **kw: real_file(CountingFile(name, "rb"), mode, **kw)
    )
    CountingFile.read_bytes = 0
    with open_scan(path) as reader:
        opened = CountingFile.read_bytes
        block = reader.projections(10, 14)
        block_bytes = CountingFile.read_bytes - opened
    np.testing.assert_array_equal(block, scan.proj[10:14])
    assert opened < n * frame / 8  # headers, angles, chunk index: not the pixel data
    assert 4 * frame <= block_bytes <= 4 * frame + 4096  # the 4 frames, not the 64 of the scan


def test_tiff_and_ole_block_reads_open_only_their_frames(shared_data, tmp_path, monkeypatch):
    folder = write_tiff_scan(make_scan(n=8), tmp_path / "tiffs")
    opened = []
    real = tiffscan_module._read_tiff
    monkeypatch.setattr(tiffscan_module, "_read_tiff", lambda p: opened.append(p.name) or real(p))
    with open_scan(folder) as scan:
        block = scan.projections(3, 5)
    assert opened == ["proj_00003.tif", "proj_00004.tif"]
    np.testing.assert_array_equal(block, read_scan(folder).proj[3:5])
    streams = []
    original = xradia_module._image
    monkeypatch.setattr(
        xradia_module,
        "_image",
        lambda ole, p, name, *a: streams.append(name) or original(ole, p, name, *a),
    )
    with open_scan(shared_data / TXRM) as scan:
        scan.projections(5, 7)
    assert streams == ["ImageData1/Image6", "ImageData1/Image7"]


def test_flat_mean_streams_blocks_of_bounded_size(tmp_path, monkeypatch):
    scan = make_scan(dtype=np.float32, n=5)
    scan.flat = np.random.default_rng(1).uniform(0, 1, (11, 5, 7)).astype(np.float32)
    path = write_dxchange(scan, tmp_path / "s.h5")
    monkeypatch.setattr(reader_module, "BLOCK_BYTES", 3 * 5 * 7 * 4)  # three frames per block
    sizes = []
    with open_scan(path) as reader:
        real = reader._read
        reader._read = lambda kind, index: sizes.append(index.size) or real(kind, index)
        mean = reader.flat_mean()
        with pytest.raises(InputError, match="flat_position unknown"):
            reader.flat_mean("before")  # DXchange does not record when flats were taken
    assert sizes == [3, 3, 3, 2]
    np.testing.assert_allclose(mean, scan.flat.mean(axis=0), rtol=1e-6)


def test_nexus_flat_positions_from_image_key(tmp_path):
    master, frames = write_nexus(tmp_path / "a", [1, 0, 0, 1, 0, 0, 2], [0, 0, 90, 0, 0, 0, 0])
    info = scan_info(master)
    assert info.flat_position == "interleaved" and (info.n_flat, info.n_dark) == (2, 1)
    assert info.n_proj == 4 and info.n_theta == 4
    with open_scan(master) as scan:
        np.testing.assert_array_equal(scan.flat_mean("before"), frames[0])
        assert scan.flat_mean("after") is None
        np.testing.assert_array_equal(scan.projections(1, 3), frames[[2, 4]])
    master, _ = write_nexus(tmp_path / "b", [0, 0, 0, 1, 1], [0, 60, 120, 0, 0])
    info = scan_info(master)
    assert info.flat_position == "after" and missing(info) == {"dark"}
    assert info.theta_span_deg == pytest.approx(180.0)


def test_header_problems_named_and_reads_refused(tmp_path):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as fh:
        fh["/exchange/data"] = np.ones((4, 3, 5), np.complex64)
        fh["/exchange/theta"] = np.linspace(0, 180, 6)
        fh.create_dataset(
            "/exchange/data_white", shape=(3, 3, 5), dtype=np.uint16, chunks=(1, 3, 5)
        )
        fh["/exchange/data_white"][0] = 1  # 1 of 3 chunks written: an interrupted acquisition
    info = scan_info(path)
    assert info.dtype == "complex64" and info.n_theta == 6 and info.n_proj == 4
    text = "\n".join(info.problems)
    assert "bad.h5:/exchange/data: expected integer or float detector values" in text
    assert "bad.h5:/exchange/theta: 6 angles but /exchange/data holds 4 projections" in text
    assert "bad.h5:/exchange/data_white: only 1 of 3 chunks are written" in text
    assert missing(info) == {"dark"}
    with open_scan(path) as scan, pytest.raises(InputError, match="integer or float"):
        scan.projections(0, 1)


def test_tiff_frames_checked_by_tags(tmp_path):
    folder = write_tiff_scan(make_scan(n=6), tmp_path / "scan")
    tifffile.imwrite(folder / "proj_00004.tif", np.zeros((5, 8), np.uint16))
    data = (folder / "flat_00002.tif").read_bytes()
    (folder / "flat_00002.tif").write_bytes(data[: len(data) - 20])
    info = scan_info(folder)
    text = "\n".join(info.problems)
    assert "proj_00004.tif: frame is (5, 8) uint16 but proj_00000.tif is (5, 7) uint16" in text
    assert "flat_00002.tif: truncated" in text
    assert info.shape == (6, 5, 7) and info.n_flat == 3
    # compressed frames differ in size: every frame's tags are read, and all agree
    scan = make_scan(n=4)
    folder = tmp_path / "zlib"
    folder.mkdir()
    for i, frame in enumerate(scan.proj):
        tifffile.imwrite(folder / f"proj_{i:05d}.tif", frame, compression="zlib")
    (folder / "angles.txt").write_text("0\n45\n90\n135\n")
    info = scan_info(folder)
    assert info.problems == tuple(p for p in info.problems if missing_frames(p))
    assert info.theta_span_deg == pytest.approx(180.0) and info.n_flat == 0


def test_cache_reads_only_stats_until_a_file_changes(shared_data, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    h5 = write_dxchange(make_scan(n=6), tmp_path / "s.h5")
    folder = write_tiff_scan(make_scan(n=6), tmp_path / "t")
    master, _ = write_nexus(tmp_path / "n", [1, 2, 0, 0, 0], [0, 0, 0, 90, 180])
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    first = {p: scan_info(p, cache_dir=cache) for p in (h5, folder, master)}
    with pytest.raises(InputError, match="not a readable HDF5"):
        scan_info(bad, cache_dir=cache)
    assert len(list(cache.iterdir())) == 4

    def no_reading(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(readscan_module, "open_scan", no_reading)
    for p, info in first.items():
        assert scan_info(p, cache_dir=cache) == info
    with pytest.raises(InputError, match="not a readable HDF5"):
        scan_info(bad, cache_dir=cache)  # the error is cached too
    monkeypatch.undo()
    # a new frame in the folder, a rewritten linked file: read again
    tifffile.imwrite(folder / "proj_00006.tif", np.zeros((5, 7), np.uint16))
    assert scan_info(folder, cache_dir=cache).n_proj == 7
    frames_file = master.parent / "scan" / "frames.h5"
    with h5py.File(frames_file, "w") as fh:
        fh["/entry/detector/detector"] = np.zeros((5, 4, 3), np.uint16)
    assert scan_info(master, cache_dir=cache).shape == (3, 4, 3)
    st = h5.stat()
    os.utime(h5, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    calls = []
    real = readscan_module.open_scan
    monkeypatch.setattr(
        readscan_module, "open_scan", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    assert scan_info(h5, cache_dir=cache) == first[h5] and len(calls) == 1


def test_read_scan_accepts_the_sheet_format_names(shared_data):
    with pytest.warns(UserWarning, match="no dark fields"):
        scan = read_scan(shared_data / XRM, fmt="xrm")
    assert scan.proj.shape == (1, 512, 512)
