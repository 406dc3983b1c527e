"""analyse / analyse_store / JSON schema / summary row / CLI on the real electrode."""

from __future__ import annotations

import json
import math

import jsonschema
import numpy as np
import pytest
import tifffile

from tomosnake.cli import main
from tomosnake.errors import ConfigError, InputError
from tomosnake.io import write_volume
from tomosnake.morph import (
    SCHEMA_PATH,
    analyse,
    analyse_store,
    parse_voxel_size,
    summary_row,
    write_morphology_json,
)

PHASES = {"pore": 0, "nmc": 85, "cbd": 170}


@pytest.fixture(scope="module")
def crop(shared_data) -> np.ndarray:
    img = tifffile.imread(shared_data / "morphology/electrode_taufactor.tiff")
    return np.ascontiguousarray(img[:48, :48, :48])


@pytest.fixture(scope="module")
def record(crop) -> dict:
    return analyse(crop, PHASES, 0.05, axes=("z", "x"), tort_phases=["pore", "cbd"])


def test_record_numbers_and_schema(record, crop, tmp_path):
    import porespy

    vf = record["fractions"]["fractions"]
    assert vf["pore"] == pytest.approx(porespy.metrics.porosity(crop == 0), abs=1e-12)
    assert (
        sum(vf.values()) == pytest.approx(1.0) and record["fractions"]["unassigned_fraction"] == 0
    )
    assert record["volume_um3"] == pytest.approx(48**3 * 0.05**3)
    surf = record["surface"]
    assert surf["contact_area_nmc_cbd_um2"] == surf["interface_area_um2"]["cbd|nmc"] > 0
    tau = record["tortuosity"]["pore"]["z"]
    assert tau["percolates"] and 1.2 < tau["tau"] < 4
    assert tau["macmullin"] == pytest.approx(tau["tau"] / tau["eps"])
    assert record["sizes"]["particles"]["nmc"]["n_particles"] >= 1
    path = write_morphology_json(record, tmp_path / "m.json")
    data = json.loads(path.read_text())
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    assert not list(tmp_path.glob(".m.json.tmp-*"))


def test_non_percolating_phase_in_json_and_row(tmp_path):
    lab = np.zeros((16, 12, 12), dtype=np.uint8)
    lab[:, :, 6:] = 1
    lab[:, 4, :] = 2  # phase 2: a sheet normal to y
    rec = analyse(
        lab,
        {"a": 0, "b": 1, "c": 2},
        0.1,
        metrics=("tau", "vf"),
        axes=("y",),
        settings={"sample": {"mode": "none"}},
    )
    t = rec["tortuosity"]["c"]["y"]
    assert math.isinf(t["tau"]) and t["flag"] == "non-percolating"
    row = summary_row(rec)
    assert math.isinf(row["tau_c_y"]) and row["deff_c_y"] == 0
    data = json.loads(write_morphology_json(rec, tmp_path / "m.json").read_text())
    assert data["tortuosity"]["c"]["y"]["tau"] is None
    assert data["tortuosity"]["c"]["y"]["percolates"] is False
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))


def test_summary_row_columns(record):
    row = summary_row(record)
    for key in (
        "vf_pore",
        "ssa_nmc_um-1",
        "sia_cbd_nmc_um-1",
        "contact_nmc_cbd_um2",
        "perc_pore_z",
        "tau_pore_z",
        "tau_cbd_x",
        "nm_pore_x",
        "lt_d50_pore_um",
        "psd_d50_nmc_um",
        "n_particles_nmc",
    ):
        assert isinstance(row[key], float), key
    assert row["vf_pore"] == record["fractions"]["fractions"]["pore"]


def test_store_chunked_equals_in_memory_and_cli(tmp_path, crop):
    store = write_volume(
        tmp_path / "labels.zarr",
        crop,
        {"phases": {"pore": 0, "nmc": 85, "cbd": 170}, "voxel_size_um": 0.05},
        chunks=(10, 48, 48),
    )
    metrics = ("fractions", "surface", "connectivity")
    rec = analyse_store(store, tmp_path / "morph.json", metrics=metrics)
    mem = analyse(crop, PHASES, 0.05, metrics=metrics)
    assert rec["connectivity"] == mem["connectivity"]
    assert rec["fractions"] == mem["fractions"]
    for k, v in mem["surface"]["area_um2"].items():
        assert rec["surface"]["area_um2"][k] == pytest.approx(v, rel=1e-6)
    assert json.loads((tmp_path / "morph.json").read_text())["source"] == str(store)
    # CLI on a TIFF: phases and voxel size given on the command line
    tif = tmp_path / "labels.tif"
    tifffile.imwrite(tif, crop[:24, :24, :24])
    out = tmp_path / "cli.json"
    rc = main(
        [
            "morph",
            str(tif),
            "--phases",
            "pore=0,nmc=85,cbd=170",
            "--voxel-size",
            "50nm",
            "--metrics",
            "vf,ssa,tortuosity",
            "--phase",
            "pore",
            "--axis",
            "z",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["voxel_size_um"] == pytest.approx(0.05)
    assert set(data["tortuosity"]) == {"pore"} and set(data["tortuosity"]["pore"]) == {"z"}
    assert main(["morph", str(tif), "--json", str(out)]) == 2  # no phases: one-line error


@pytest.mark.parametrize(
    ("text", "um"),
    [("50nm", 0.05), ("0.05um", 0.05), ("0.05 µm", 0.05), ("1e-4mm", 0.1), ("2", 2.0)],
)
def test_parse_voxel_size(text, um):
    assert parse_voxel_size(text) == pytest.approx(um)


def test_bad_inputs(crop):
    with pytest.raises(ConfigError, match="unit"):
        parse_voxel_size("50 parsecs")
    with pytest.raises(ConfigError, match="metric"):
        analyse(crop, PHASES, 0.05, metrics=("colour",))
    with pytest.raises(ConfigError, match="label"):
        analyse(crop, {"pore": 300}, 0.05)
    with pytest.raises(ConfigError, match="voxel_size_um"):
        analyse(crop, PHASES, -1.0)
    with pytest.raises(InputError, match="integer"):
        analyse(crop.astype(np.float32), PHASES, 0.05)
    with pytest.raises(ConfigError, match="tortuosity phase"):
        analyse(crop, PHASES, 0.05, metrics=("tau",), tort_phases=["air"])
