"""The workflow end to end on a tiny beamtime, and Snakemake reruns only what changed.

The workflow (Snakefile + workflow/) is copied into a temporary folder with a tiny
config, so tests can edit scripts and the scan sheet freely. Job lists come from
Snakemake's own dry-run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

TINY_CONFIG = {
    "scans": "config/scans.tsv",
    "simulate": {
        "a": {"shape": [12, 40, 40], "angles": 64, "range": 180, "center_offset": 2.2, "seed": 1},
        "b": {"shape": [12, 40, 40], "angles": 64, "range": 180, "center_offset": -1.4, "seed": 2},
        "c": {"shape": [12, 40, 40], "angles": 64, "range": 180, "center_offset": 0.6, "seed": 3},
    },
    "preprocess": {"rings": "sort"},
    "recon": {"slabs": 2, "crop": 40},
    "segment": {"method": "otsu", "chunks": 2, "train_scans": ["scanA"], "train_slices": [2, 6, 10],
                "epochs": 10},
    "morph": {"metrics": ["fractions", "surface"]},
}
# both scans are segmented by models trained on scanA's ground truth: A by the random
# forest, B by the CNN
SHEET = (
    "scan_id\tpath\tformat\tsegment.method\n"
    "scanA\tresources/sim/a.h5\tdxchange\trf\n"
    "scanB\tresources/sim/b.h5\tdxchange\tcnn\n"
)
TARGETS = ["results/summary.csv"]


def smk(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir``; return the completed process (stdout+stderr in .stdout)."""
    proc = subprocess.run(
        [*SNAKEMAKE, "--cores", "2", "--rerun-incomplete", *args],
        cwd=workdir, capture_output=True, text=True, timeout=900,
    )
    if check and proc.returncode != 0:
        tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        pytest.fail(f"snakemake {' '.join(args)} failed:\n{tail}")
    return proc


def planned(workdir: Path, *targets: str) -> set[tuple[str, str]]:
    """(rule, scan) pairs a dry-run would run; scan is '' for beamtime-wide rules."""
    out = smk(workdir, "-n", *(targets or TARGETS)).stdout
    jobs = set()
    for block in re.split(r"\n(?=(?:local)?rule )", out):
        m = re.match(r"(?:local)?rule (\w+):", block)
        if not m or m.group(1) == "all":
            continue
        w = re.search(r"wildcards: .*?(?:scan|name)=([\w.-]+)", block)
        jobs.add((m.group(1), w.group(1) if w else ""))
    return jobs


def planned_with(workdir: Path, path: Path, change) -> set[tuple[str, str]]:
    """Jobs a dry-run would plan with ``path``'s text replaced by ``change(text)``; the file is
    restored afterwards."""
    original = path.read_text()
    try:
        path.write_text(change(original))
        return planned(workdir)
    finally:
        path.write_text(original)


def config_with(section: str, key: str, value):
    """A ``change`` for :func:`planned_with` that sets config[section][key] = value."""

    def change(text: str) -> str:
        cfg = yaml.safe_load(text)
        cfg[section][key] = value
        return yaml.safe_dump(cfg)

    return change


def make_workdir(path: Path) -> Path:
    shutil.copy(REPO / "Snakefile", path / "Snakefile")
    for folder in ("workflow", "envs"):
        shutil.copytree(REPO / folder, path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (path / "config").mkdir()
    (path / "config" / "config.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    (path / "config" / "scans.tsv").write_text(SHEET)
    return path


@pytest.fixture(scope="module")
def beamtime(tmp_path_factory) -> Path:
    """A tiny two-scan beamtime, run to the summary once for all tests of this module."""
    work = make_workdir(tmp_path_factory.mktemp("beamtime"))
    smk(work, *TARGETS)
    return work


def test_full_run_produces_contracted_outputs(beamtime):
    for scan in ("scanA", "scanB"):
        for name in ("raw.zarr", "prep.zarr", "recon.zarr", "labels.zarr"):
            assert (beamtime / "results" / scan / name / "zarr.json").is_file()
        truth = json.loads((beamtime / "results" / scan / "truth_check.json").read_text())
        assert abs(truth["center_error_px"]) < 0.5
        assert truth["mean_iou"] > 0.5
    models = sorted(p.name for p in (beamtime / "results" / "models").iterdir())
    assert models == ["segment_cnn.pt", "segment_rf.pt"]
    rows = (beamtime / "results" / "summary.csv").read_text().splitlines()
    assert rows[0].startswith("scan_id") and len(rows) == 3
    assert not list((beamtime / "results").glob("*/recon.slabs/*.zarr"))  # temp() slabs removed


def test_nothing_reruns_after_a_full_run(beamtime):
    assert planned(beamtime) == set()


def test_scan_sheet_parameter_change_reruns_only_that_scan(beamtime):
    jobs = planned_with(
        beamtime, beamtime / "config" / "scans.tsv",
        lambda sheet: sheet.replace("method\n", "method\trecon.filter\n")
        .replace("rf\n", "rf\t\n").replace("cnn\n", "cnn\thann\n"),
    )
    scans = {scan for _, scan in jobs if scan}
    assert scans == {"scanB"}
    assert ("recon_slab", "scanB") in jobs and ("ingest", "scanB") not in jobs
    assert ("preprocess", "scanB") not in jobs
    assert {rule for rule, scan in jobs if not scan} == {"summary"}


def test_config_change_reruns_only_affected_step_and_below(beamtime):
    jobs = planned_with(beamtime, beamtime / "config" / "config.yaml",
                        config_with("morph", "metrics", ["fractions"]))
    assert jobs == {("morphology", "scanA"), ("morphology", "scanB"), ("summary", "")}


def test_adding_a_scan_runs_only_the_new_scan(beamtime):
    jobs = planned_with(beamtime, beamtime / "config" / "scans.tsv",
                        lambda sheet: sheet + "scanC\tresources/sim/c.h5\tdxchange\totsu\n")
    assert {scan for _, scan in jobs if scan} == {"scanC", "c"}
    assert ("simulate_dxchange", "c") in jobs and ("recon_slab", "scanC") in jobs


CNN_CHAIN = {("segment_chunk", "scanB"), ("segment_merge", "scanB"), ("truth_check", "scanB"),
             ("morphology", "scanB"), ("summary", "")}


def test_a_new_model_reruns_only_the_cnn_segmentation_and_what_follows(beamtime):
    model = beamtime / "results" / "models" / "segment_cnn.pt"
    before = model.stat()
    try:
        os.utime(model, (before.st_atime, before.st_mtime + 60))  # a replaced model file
        jobs = planned(beamtime)
    finally:
        os.utime(model, (before.st_atime, before.st_mtime))
    assert jobs == CNN_CHAIN


def test_cnn_epochs_retrain_only_the_cnn_and_leave_the_forest_scan_alone(beamtime):
    jobs = planned_with(beamtime, beamtime / "config" / "config.yaml",
                        config_with("segment", "epochs", 11))
    assert jobs == CNN_CHAIN | {("train_segmenter", "")}


def test_editing_a_stage_script_reruns_that_stage_and_what_follows(beamtime):
    jobs = planned_with(beamtime, beamtime / "workflow" / "scripts" / "segment_chunk.py",
                        lambda code: code + "\n# an edit\n")
    rules = {rule for rule, _ in jobs}
    assert {"segment_chunk", "segment_merge", "morphology", "summary"} <= rules
    assert not rules & {"simulate_dxchange", "ingest", "preprocess", "recon_slab", "recon_merge"}


def test_killed_job_leaves_nothing_complete_and_is_redone(tmp_path):
    """SIGKILL snakemake while a reconstruction is being written: no recon.zarr, and a rerun
    finishes the work (outputs go to a hidden temp path renamed at the end)."""
    work = make_workdir(tmp_path)
    cfg = dict(TINY_CONFIG)
    cfg["simulate"] = {"a": {**TINY_CONFIG["simulate"]["a"], "shape": [48, 96, 96],
                             "angles": 361}}
    cfg["recon"] = {"slabs": 1, "crop": 96, "algorithm": "sirt"}
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    (work / "config" / "scans.tsv").write_text("scan_id\tpath\nscanA\tresources/sim/a.h5\n")
    smk(work, "results/scanA/prep.zarr")
    proc = subprocess.Popen([*SNAKEMAKE, "--cores", "1", "results/scanA/recon.zarr"], cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    log = work / "logs" / "recon" / "scanA.0.log"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and "rule recon_slab" in log.read_text()):
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    smk(work, "--unlock")  # a killed Snakemake leaves its lock, as after a node crash
    assert not (work / "results" / "scanA" / "recon.zarr").exists()
    assert not (work / "results" / "scanA" / "recon.slabs" / "0.zarr" / "zarr.json").exists()
    assert ("recon_slab", "scanA") in planned(work, "results/scanA/recon.zarr")
    smk(work, "results/scanA/recon.zarr")
    assert (work / "results" / "scanA" / "recon.zarr" / "zarr.json").is_file()
    assert not list((work / "results" / "scanA" / "recon.slabs").glob(".*tmp*"))
