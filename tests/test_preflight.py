"""Preflight: every problem of every scan, from headers only, in one error before any job."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest
import yaml

from tomosnake.cli import main
from tomosnake.config import load_config
from tomosnake.io import RawScan, scan_info, write_dxchange, write_tiff_scan
from tomosnake.preflight import (
    PreflightError,
    check_beamtime,
    check_scan,
    format_problems,
    preflight,
    simulated_infos,
)
from tomosnake.scansheet import read_scan_sheet, scan_settings

DIAD = "real_scans/diad_k11-18014/k11-18014.nxs"
TXRM = "real_scans/zeiss_txrm/txrm_test_chip_tomo.txrm"


def raw(n=12, nz=8, nx=16, pixel=0.5, flats=True, darks=True) -> RawScan:
    rng = np.random.default_rng(0)
    frames = lambda k: rng.integers(100, 4000, (k, nz, nx)).astype(np.uint16)  # noqa: E731
    return RawScan(
        proj=frames(n),
        theta=np.linspace(0, np.pi, n, endpoint=False),
        flat=frames(3) if flats else None,
        dark=frames(2) if darks else None,
        meta={"pixel_size_um": pixel},
    )


def beamtime(tmp_path, rows: list[dict], config: dict | None = None):
    """Write config.yaml and scans.tsv; return (config path, config, sheet, settings)."""
    columns = ["scan_id", "path"] + sorted({k for r in rows for k in r} - {"scan_id", "path"})
    lines = ["\t".join(columns)] + ["\t".join(str(r.get(c, "")) for c in columns) for r in rows]
    (tmp_path / "scans.tsv").write_text("\n".join(lines) + "\n")
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump({"scans": str(tmp_path / "scans.tsv"), **(config or {})}))
    cfg = load_config(cfg_path)
    sheet = read_scan_sheet(cfg["scans"])
    settings = {s: scan_settings(cfg, row) for s, row in sheet.items()}
    return cfg_path, cfg, sheet, settings


def broken_scans(tmp_path) -> list[dict]:
    good = write_dxchange(raw(), tmp_path / "good.h5")
    nopixel = write_dxchange(raw(pixel=None), tmp_path / "nopixel.h5")
    angles = tmp_path / "angles.h5"
    with h5py.File(angles, "w") as fh:
        fh["/exchange/data"] = raw().proj
        fh["/exchange/data_white"] = raw().flat
        fh["/exchange/data_dark"] = raw().dark
        fh["/exchange/theta"] = np.linspace(0, 180, 10)
        fh["/measurement/instrument/detection_system/objective/resolution"] = 0.5
    noflat = write_dxchange(raw(flats=False), tmp_path / "noflat.h5")
    cut = write_dxchange(raw(n=200), tmp_path / "cut.h5")
    with open(cut, "r+b") as fh:
        fh.truncate(cut.stat().st_size // 2)
    return [
        {"scan_id": "nopixel", "path": nopixel},
        {"scan_id": "angles", "path": angles},
        {"scan_id": "noflat", "path": noflat},
        {"scan_id": "cut", "path": cut},
        {"scan_id": "wide", "path": good, "recon.crop": 64},
        {"scan_id": "fine", "path": good},
    ]


def test_broken_beamtime_gives_one_error_listing_every_problem(tmp_path, capsys):
    _, cfg, sheet, settings = beamtime(tmp_path, broken_scans(tmp_path))
    problems = check_beamtime(cfg, sheet, settings)
    found = {(p.scan, p.file.rsplit("/", 1)[-1]): p for p in problems}
    assert set(found) == {
        ("nopixel", "nopixel.h5"),
        ("angles", "angles.h5"),
        ("noflat", "noflat.h5"),
        ("cut", "cut.h5"),
        ("wide", "good.h5"),
    }
    assert len(problems) == 5  # one each; the good scan "fine" has none
    assert "no voxel size" in found["nopixel", "nopixel.h5"].problem
    assert "voxel_size_um" in found["nopixel", "nopixel.h5"].fix
    assert (
        "10 angles but /exchange/data holds 12 projections" in found["angles", "angles.h5"].problem
    )
    assert "no flat fields (/exchange/data_white missing)" in found["noflat", "noflat.h5"].problem
    assert "preprocess.no_flats" in found["noflat", "noflat.h5"].fix
    assert "not a readable HDF5 file" in found["cut", "cut.h5"].problem
    assert "recon.crop 64" in found["wide", "good.h5"].problem
    assert "recon.crop <= 16" in found["wide", "good.h5"].fix
    with pytest.raises(PreflightError) as err:
        preflight(cfg, sheet, settings)
    message = str(err.value)
    assert message.startswith("5 problem(s) in 5 scan(s)")
    for scan in ("nopixel", "angles", "noflat", "cut", "wide"):
        assert f"| {scan} " in message
    for name in ("nopixel.h5", "angles.h5", "noflat.h5", "cut.h5", "good.h5"):
        assert name in message


def test_check_command_exits_nonzero_on_a_broken_sheet(tmp_path, capsys):
    cfg_path, *_ = beamtime(tmp_path, broken_scans(tmp_path))
    cache = tmp_path / "cache"
    assert main(["check", "--config", str(cfg_path), "--cache", str(cache)]) == 2
    out, err = capsys.readouterr()
    assert "5 problem(s) in 5 scan(s)" in out and "5 problem(s)" in err
    for scan in ("nopixel", "angles", "noflat", "cut", "wide"):
        assert f"| {scan} " in out
    assert "12 x 8 x 16" in out  # the readable scans' shapes are still listed
    # the second check answers from the cache, with the same problems
    assert main(["check", "--config", str(cfg_path), "--cache", str(cache)]) == 2
    assert capsys.readouterr().out == out


def test_good_beamtime_passes_with_shapes_angles_and_jobs(tmp_path, shared_data, capsys):
    tiff = write_tiff_scan(raw(n=20, nz=8, nx=24), tmp_path / "tiff_scan")
    rows = [
        {"scan_id": "h5", "path": write_dxchange(raw(), tmp_path / "good.h5")},
        {"scan_id": "tiff", "path": tiff, "recon.crop": 16},
        {"scan_id": "diad", "path": shared_data / DIAD, "voxel_size_um": 1.0},
        {"scan_id": "sim", "path": "resources/sim/sim.h5"},
    ]
    sim = {"sim": {"shape": [16, 40, 40], "angles": 90, "range": 180}}
    cfg_path, cfg, sheet, settings = beamtime(tmp_path, rows, {"simulate": sim})
    assert check_beamtime(cfg, sheet, settings, simulated=simulated_infos(cfg, sheet)) == []
    assert main(["check", "--config", str(cfg_path), "--cache", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "4 scan(s) checked: no problems found" in out
    diad = next(line for line in out.splitlines() if line.startswith("diad "))
    assert "nexus" in diad and "3001 x 22 x 26" in diad and "90.0..270.0 (180.1)" in diad
    sim_line = next(line for line in out.splitlines() if line.startswith("sim "))
    assert "simulated" in sim_line and "90 x 16 x" in sim_line and "(180.0)" in sim_line
    assert "recon_slab" in out and "core-h" in out


def test_fallbacks_and_dimensionless_metrics_need_no_flats_or_voxel_size(tmp_path, shared_data):
    noflat = write_dxchange(raw(flats=False, pixel=None), tmp_path / "noflat.h5")
    rows = [
        {"scan_id": "norm", "path": noflat, "preprocess.no_flats": "normalised"},
        {
            "scan_id": "zeiss",
            "path": shared_data / TXRM,
            "preprocess.no_flats": "row_bright",
            "preprocess.no_darks": "zero",
        },
    ]
    config = {"morph": {"metrics": ["fractions", "connectivity", "tortuosity"]}}
    _, cfg, sheet, settings = beamtime(tmp_path, rows, config)
    assert check_beamtime(cfg, sheet, settings) == []
    # the Zeiss file holds neither flats nor darks: without the fallbacks, two problems
    settings["zeiss"]["preprocess"] = {}
    problems = check_beamtime(cfg, sheet, settings)
    assert [
        (p.scan, "no flat fields" in p.problem, "no dark fields" in p.problem) for p in problems
    ] == [
        ("zeiss", True, False),
        ("zeiss", False, True),
    ]
    assert "preprocess.no_darks: zero" in problems[1].fix


def test_crop_may_be_twice_the_detector_for_360_degree_scans(tmp_path):
    scan = raw(n=36, nx=16)
    scan.theta = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    info = scan_info(write_dxchange(scan, tmp_path / "s360.h5"))
    assert info.theta_span_deg == pytest.approx(360.0)
    row = {"path": info.source}
    assert check_scan("s", info, row, {"recon": {"crop": 32}}) == []
    (problem,) = check_scan("s", info, row, {"recon": {"crop": 33}})
    assert "32 pixels (twice the detector" in problem.problem


def test_layout_and_sample_region_checked_against_the_shape(tmp_path):
    info = scan_info(write_dxchange(raw(nz=8, nx=16), tmp_path / "s.h5"))
    row = {"path": info.source}
    assert check_scan("s", info, row, {"layout": {"slab_rows": 64, "slabs": 2}}) == []
    (problem,) = check_scan("s", info, row, {"layout": {"slabs": 5}})
    assert "layout.slabs 5: a scan of 8 rows splits into at most 2 slabs" in problem.problem
    inside = {"mode": "box", "box": [[0, 8], [2, 14], [0, 16]]}
    assert check_scan("s", info, row, {"morph": {"sample": inside}}) == []
    outside = {"mode": "box", "box": [[0, 9], [2, 14], [0, 16]]}
    (problem,) = check_scan("s", info, row, {"morph": {"sample": outside}})
    assert "not inside the volume (8, 16, 16)" in problem.problem
    cylinder = {"mode": "cylinder", "cylinder": {"center_yx": [8, 8], "radius": 8, "z": [1, 7]}}
    assert check_scan("s", info, row, {"morph": {"sample": cylinder}}) == []
    cylinder["cylinder"]["radius"] = 8.5
    (problem,) = check_scan("s", info, row, {"morph": {"sample": cylinder}})
    assert "cylinder" in problem.problem and "(8, 16, 16)" in problem.problem
    # a crop shrinks the volume the region must fit in
    (problem,) = check_scan("s", info, row, {"recon": {"crop": 10}, "morph": {"sample": inside}})
    assert "(8, 10, 10)" in problem.problem


def test_real_scans_header_numbers(shared_data):
    diad = scan_info(shared_data / DIAD)
    assert (diad.n_proj, diad.n_rows, diad.n_cols, diad.n_theta) == (3001, 22, 26, 3001)
    assert (diad.n_flat, diad.n_dark, diad.flat_position) == (100, 100, "both")
    assert diad.theta_span_deg == pytest.approx(180.06, abs=0.001)
    txrm = scan_info(shared_data / TXRM)
    assert (txrm.n_proj, txrm.n_rows, txrm.n_cols, txrm.n_theta) == (7, 256, 256, 7)
    assert txrm.theta_span_deg == pytest.approx(105.0045, abs=1e-3)
    assert txrm.alignment_shifts and txrm.pixel_size_um == pytest.approx(0.1557895, rel=1e-6)


def test_problem_table_names_scan_file_and_fix():
    from tomosnake.preflight import Problem

    text = format_problems(
        [Problem("a" * 30, "/data/x/scan.h5", "/data/x/scan.h5:/exchange/theta: 1 angles", "fix")]
    )
    assert text.splitlines()[0] == "1 problem(s) in 1 scan(s):"
    assert "| /exchange/theta: 1 angles" in text  # the file is its own column
    assert "/data/x/scan.h5" in text and "a" * 24 in text
    assert format_problems([]) == "no problems found"


def test_simulated_infos_follow_the_simulate_settings():
    cfg = {"simulate": {"s": {"shape": [16, 40, 40], "angles": 90, "range": 360}}}
    sheet = {"a": {"path": "resources/sim/s_tiff"}, "b": {"path": "data/s.h5"}}
    infos = simulated_infos(cfg, sheet)
    assert set(infos) == {"a"}
    info = infos["a"]
    assert (info.n_proj, info.n_rows, info.n_theta, info.theta_span_deg) == (90, 16, 90, 360.0)
    assert info.theta_last_deg == pytest.approx(356.0)
    assert info.n_cols >= 57  # sees the whole 40 x 40 sample at every angle
    assert dataclasses.replace(info, problems=()) == info
