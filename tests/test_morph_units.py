"""Units only where needed: dimensionless metrics run in voxel units without a voxel size;
metrics in µm say which metric needs one and where to set it; settings and their defaults."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import tifffile
import yaml

from tomosnake.cli import main
from tomosnake.errors import ConfigError
from tomosnake.io import write_volume
from tomosnake.morph import (
    DEFAULTS,
    SCHEMA_PATH,
    analyse,
    analyse_store,
    metrics_needing_units,
    summary_row,
)

PHASES = {"pore": 0, "nmc": 85, "cbd": 170}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def crop(shared_data) -> np.ndarray:
    img = tifffile.imread(shared_data / "morphology/electrode_taufactor.tiff")
    return np.ascontiguousarray(img[:32, :32, :32])


def test_metrics_needing_units():
    assert metrics_needing_units(["vf", "tau", "connectivity"]) == []
    assert metrics_needing_units(["ssa", "tortuosity", "psd"]) == ["surface", "sizes"]
    assert metrics_needing_units("fractions,surface") == ["surface"]
    with pytest.raises(ConfigError, match="colour"):
        metrics_needing_units(["colour"])


def test_dimensionless_metrics_in_voxel_units(crop, tmp_path):
    rec = analyse(crop, PHASES, None, ["vf", "connectivity", "tau"], axes=("z",))
    assert rec["units"] == {"length": "voxel"}
    assert rec["voxel_size_um"] is None and rec["volume_um3"] is None
    with_size = analyse(crop, PHASES, 0.05, ["vf", "connectivity", "tau"], axes=("z",))
    assert rec["fractions"] == with_size["fractions"]
    assert rec["tortuosity"] == with_size["tortuosity"]
    assert with_size["units"] == {"length": "um"}
    assert with_size["volume_um3"] == pytest.approx(32**3 * 0.05**3)
    from tomosnake.morph import write_morphology_json

    data = json.loads(write_morphology_json(rec, tmp_path / "m.json").read_text())
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    assert "tau_pore_z" in summary_row(rec)


@pytest.mark.parametrize(("metric", "word"), [("ssa", "surface"), ("psd", "sizes")])
def test_metric_in_um_without_voxel_size_names_metric_and_sheet(crop, metric, word):
    with pytest.raises(ConfigError, match=rf"{word} .*voxel_size_um in the scan sheet"):
        analyse(crop, PHASES, None, ["vf", metric])


def test_store_without_voxel_size_and_cli_tortuosity_alone(crop, tmp_path):
    store = write_volume(tmp_path / "labels.zarr", crop, {"phases": PHASES})
    with pytest.raises(ConfigError, match=r"labels\.zarr: metric surface"):
        analyse_store(store, None, {"metrics": ["fractions", "surface"]})
    rec = analyse_store(store, None, {"metrics": ["tortuosity"], "axes": ["x"]}, threads=1)
    assert rec["units"]["length"] == "voxel" and set(rec["tortuosity"]["pore"]) == {"x"}
    out = tmp_path / "cli.json"
    args = ["morph", str(store), "--metrics", "tau", "--phase", "pore", "--json", str(out)]
    assert main(args) == 0
    data = json.loads(out.read_text())
    assert data["units"] == {"length": "voxel"} and data["tortuosity"]["pore"]["z"]["tau"] > 1
    assert data["solver"]["tortuosity"]["pore"]["z"]["converged"] is True
    bad = ["morph", str(store), "--metrics", "vf,ssa", "--json", str(tmp_path / "x.json")]
    assert main(bad) == 2  # one-line error naming the metric


def test_cli_sample_options(crop, tmp_path):
    tif = tmp_path / "labels.tif"
    tifffile.imwrite(tif, crop)
    out = tmp_path / "region.json"
    base = ["morph", str(tif), "--phases", "pore=0,nmc=85,cbd=170", "--metrics", "vf"]
    assert main([*base, "--box", "2:30,4:28,0:32", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["sample"]["mode"] == "box" and data["sample"]["voxels"] == 28 * 24 * 32
    assert main([*base, "--cylinder", "16,16,10", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["sample"]["mode"] == "cylinder" and data["sample"]["bbox_zyx"][0] == [0, 32]
    assert main([*base, "--cylinder", "16,16", "--json", str(out)]) == 2


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="morph.tortuosity_cubes"):
        analyse(np.zeros((4, 4, 4), np.uint8), {"a": 0}, None, settings={"tortuosity_cubes": 0})
    with pytest.raises(ConfigError, match="morph.colour: unknown"):
        analyse(np.zeros((4, 4, 4), np.uint8), {"a": 0}, None, settings={"colour": 1})
    with pytest.raises(ConfigError, match="morph.axes"):
        analyse(np.zeros((4, 4, 4), np.uint8), {"a": 0}, None, settings={"axes": ["w"]})


def test_defaults_agree_with_the_workflow_schema():
    """Every morph key the workflow schema documents has the library's default."""
    for path in (REPO / "workflow/schemas/config.schema.yaml",):
        schema = yaml.safe_load(path.read_text())
        props = schema["properties"]["morph"]["properties"]
        for key, spec in props.items():
            assert key in DEFAULTS, f"{path.name}: morph.{key} is not a morph setting"
            if "default" in spec and key != "sample":
                assert spec["default"] == DEFAULTS[key], key
            if key == "sample":
                for sub, subspec in (spec.get("properties") or {}).items():
                    if "default" in subspec:
                        assert subspec["default"] == DEFAULTS["sample"][sub], f"sample.{sub}"
