"""Bad configs and scan sheets stop the workflow before any job, naming the key or scan.

Most cases call the validation the workflow runs (tomosnake.config on the config schema,
tomosnake.scansheet on the sheet) directly; a few run Snakemake's dry-run to show the
message reaches the user with a non-zero exit.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tomosnake.beamtime import refuse_renamed
from tomosnake.config import validate_config
from tomosnake.errors import ConfigError
from tomosnake.scansheet import read_scan_sheet, scan_settings

REPO = Path(__file__).resolve().parents[1]
DIAD = REPO.parent / "shared" / "data" / "real_scans" / "diad_k11-18014" / "k11-18014.nxs"
GOOD_SHEET = "scan_id\tpath\tformat\nscanA\tresources/sim/a.h5\tdxchange\n"
GOOD_CONFIG = {"scans": "config/scans.tsv", "simulate": {"a": {"shape": [8, 32, 32]}}}


def validated(config: dict) -> dict:
    refuse_renamed(config, "config")
    return validate_config(copy.deepcopy(config))


def settings_of(tmp_path: Path, sheet: str, config: dict | None = None) -> dict:
    path = tmp_path / "scans.tsv"
    path.write_text(sheet)
    rows = read_scan_sheet(path)
    cfg = validated(config or GOOD_CONFIG)
    return {s: scan_settings(cfg, row) for s, row in rows.items()}


def test_defaults_come_from_the_schema(tmp_path):
    settings = settings_of(tmp_path, GOOD_SHEET)["scanA"]
    assert settings["recon"]["algorithm"] == "gridrec" and settings["recon"]["crop"] is None
    assert settings["layout"] == {"slab_rows": 64, "slabs": None, "keep": [], "scratch": None}
    assert settings["preprocess"]["center"] == "auto"
    assert settings["preprocess"]["no_flats"] == "error"


def test_descriptive_columns_are_kept_for_the_report(tmp_path):
    path = tmp_path / "scans.tsv"
    path.write_text("scan_id\tpath\tsample\tcycle\na\tx.h5\tcell01\t10\nb\tx.h5\tcell01\t\n")
    rows = read_scan_sheet(path)
    assert rows["a"]["sample"] == "cell01" and rows["a"]["cycle"] == 10
    assert "cycle" not in rows["b"]


def test_scan_sheet_overrides_one_scan(tmp_path):
    sheet = "scan_id\tpath\trecon.crop\tpreprocess.center\na\tx.h5\t96\t\nb\tx.h5\t\t81.5\n"
    s = settings_of(tmp_path, sheet)
    assert s["a"]["recon"]["crop"] == 96 and s["b"]["recon"]["crop"] is None
    assert s["a"]["preprocess"]["center"] == "auto" and s["b"]["preprocess"]["center"] == 81.5


@pytest.mark.parametrize(
    "section,expect",
    [
        ({"recon": {"filter": "sheppp"}}, "sheppp"),
        ({"layout": {"slab_rows": "two"}}, "two"),
        ({"layout": {"slabs": 0}}, "0"),
        ({"recon": {"slabs": 4}}, "recon.slabs was replaced by layout.slab_rows"),
        ({"segment": {"chunks": 4}}, "segment.chunks was replaced by layout.slab_rows"),
        ({"morph": {"voxel_size_um": 0.1}}, "voxel_size_um column"),
        ({"preprocess": {"no_flats": "guess"}}, "guess"),
        ({"recon": {"speed": 11}}, "speed"),
        ({"preprocess": {"rings": "magic"}}, "magic"),
        ({"preprocess": {"paganin": {"energy_kev": 20}}}, "distance_m"),
        ({"segment": {"method": "deep"}}, "deep"),
        ({"morph": {"metrics": ["porosity"]}}, "porosity"),
        ({"simulate": {"a": {"range": 90}}}, "90"),
        ({"scans": 3}, "3"),
    ],
)
def test_bad_config_value_is_named(section, expect):
    with pytest.raises(Exception, match=expect):
        validated({**GOOD_CONFIG, **section})


@pytest.mark.parametrize(
    "sheet,expect",
    [
        (GOOD_SHEET + "scanA\tresources/sim/a.h5\tdxchange\n", "duplicated scan_id"),
        ("scan_id\tpath\n../evil\tresources/sim/a.h5\n", "../evil"),
        ("scan_id\tpath\n..\tresources/sim/a.h5\n", "'..'"),
        ("scan_id\tpath\n/abs\tresources/sim/a.h5\n", "/abs"),
        ("scan_id\tpath\nsp ace\tresources/sim/a.h5\n", "sp ace"),
        ("scan_id\tpath\n.hidden\tresources/sim/a.h5\n", ".hidden"),
        ("scan_id\tpath\nx{y}\tresources/sim/a.h5\n", "x{y}"),
        ("scan_id\tpath\trecon.crop\nscanA\tresources/sim/a.h5\t-5\n", "crop"),
        ("scan_id\tpath\trecon.filter\nscanA\tresources/sim/a.h5\tbogus\n", "bogus"),
        ("scan_id\tpath\tvoxel_size\nscanA\tresources/sim/a.h5\t0.1\n",
         "did you mean 'voxel_size_um'"),
        ("scan_id\tpath\tformt\nscanA\tresources/sim/a.h5\ttiff\n", "did you mean 'format'"),
        ("scan_id\tpath\trecon.filtr\nscanA\tresources/sim/a.h5\thann\n", "filtr"),
        ("scan_id\tpath\tvoxel_size_um\nscanA\ta.h5\tbig\n", "big"),
        ("scan_id\tformat\nscanA\tdxchange\n", "'path'"),
        ("path\nresources/sim/a.h5\n", "'scan_id'"),
        ("scan_id\tpath\n", "no scans"),
        ("scan_id\tpath\tsegment.epochs\nscanA\ta.h5\t5\n", "one setting for the whole beamtime"),
        ("scan_id\tpath\tlayout.keep\nscanA\ta.h5\t[prep]\n", "one setting for the whole"),
        ("scan_id\tpath\tlayout.slab_rows\nscanA\ta.h5\tmany\n", "many"),
    ],
)
def test_bad_scan_sheet_is_named(tmp_path, sheet, expect):
    with pytest.raises(ConfigError, match=r".*" + __import__("re").escape(expect)):
        settings_of(tmp_path, sheet)


def dry_run(tmp_path: Path, config: dict, sheet: str, *targets: str):
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "config" / "scans.tsv").write_text(sheet)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "workflow" / "Snakefile"),
         "--directory", str(tmp_path), "--configfile", str(tmp_path / "config" / "config.yaml"),
         *targets],
        capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize(
    "config,sheet,targets,expect",
    [
        ({**GOOD_CONFIG, "recon": {"filter": "sheppp"}}, GOOD_SHEET, (), "sheppp"),
        (GOOD_CONFIG, "scan_id\tpath\n../evil\tx.h5\n", (), "../evil"),
        (GOOD_CONFIG, "scan_id\tpath\nscanA\t/no/such/scan.h5\n", (), "/no/such/scan.h5"),
        (GOOD_CONFIG, GOOD_SHEET, ("results/nosuch/morphology.json",),
         "results/nosuch/morphology.json"),
        ({**GOOD_CONFIG, "recon": {"crop": 999}},
         GOOD_SHEET + "gone\t/no/such/scan.h5\n", (), "2 problem(s) in 2 scan(s)"),
        ({**GOOD_CONFIG, "recon": {"slabs": 3}}, GOOD_SHEET, (), "layout.slabs (jobs per scan)"),
        ({**GOOD_CONFIG, "segment": {"train_scans": ["scanZ"]}}, GOOD_SHEET, (),
         "segment.train_scans ['scanZ']: not in the scan sheet"),
        ({**GOOD_CONFIG, "segment": {"train_scans": ["real"]}},
         "scan_id\tpath\tformat\tvoxel_size_um\nscanA\tresources/sim/a.h5\tdxchange\t\n"
         f"real\t{DIAD}\tnexus\t1.0\n", (),
         "segment.train_scans ['real']: no ground truth to train on"),
        (GOOD_CONFIG, GOOD_SHEET.replace("scan_id\tpath\tformat", "scan_id\tpath\tformat\t"
                                         "segment.method").replace("dxchange\n", "dxchange\tcnn\n"),
         (), "uses segment.method cnn, which needs a trained model"),
    ],
    ids=["config", "sheet", "missing-raw", "unknown-scan", "all-problems-at-once", "renamed-key",
         "train-scan-unknown",
         "train-scan-real", "model-without-training"],
)
def test_snakemake_stops_with_the_message(tmp_path, config, sheet, targets, expect):
    proc = dry_run(tmp_path, config, sheet, *targets)
    assert proc.returncode != 0
    assert expect in proc.stderr + proc.stdout
