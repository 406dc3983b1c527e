"""The workflow end to end on the tiny beamtime of .test/, deployed as a Snakemake module from a
folder of its own, and Snakemake reruns exactly what a change affects.

The workflow (workflow/) is copied into a temporary folder (so tests may edit its scripts) and
used as a ``module`` by a Snakefile in another folder holding only config/: nothing may depend
on the working directory being this checkout. Snakemake and its jobs import a copy of the
library (PYTHONPATH), which tests may edit too. Job lists come from Snakemake's own dry-run.
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

import numpy as np
import pytest
import yaml
import zarr

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TINY = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
SHEET = (REPO / ".test" / "config" / "scans.tsv").read_text()
TARGETS = ["results/summary.csv"]
DEPLOY_SNAKEFILE = """\
configfile: "config/config.yaml"


module tomosnake:
    snakefile:
        "{workflow}/Snakefile"
    config:
        config


use rule * from tomosnake
"""


def smk(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir`` with the library copy of its project (``../library``);
    return the completed process (stdout+stderr in .stdout)."""
    proc = subprocess.run(
        [*SNAKEMAKE, "--cores", "2", "--rerun-incomplete", *args],
        cwd=workdir, capture_output=True, text=True, timeout=1200,
        env={**os.environ, "PYTHONPATH": str(workdir.parent / "library")},
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
        cfg.setdefault(section, {})[key] = value
        return yaml.safe_dump(cfg)

    return change


def deploy(root: Path, config: dict = TINY, sheet: str = SHEET) -> Path:
    """Copies of the workflow (``root/workflow``) and the library (``root/library``) and, in
    ``root/deploy``, a project that uses the workflow as a module with its own config and
    scan sheet; returns the project folder."""
    shutil.copytree(REPO / "workflow", root / "workflow",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "src" / "tomosnake", root / "library" / "tomosnake",
                    ignore=shutil.ignore_patterns("__pycache__"))
    work = root / "deploy"
    (work / "config").mkdir(parents=True)
    (work / "Snakefile").write_text(DEPLOY_SNAKEFILE.format(workflow=root / "workflow"))
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    (work / "config" / "scans.tsv").write_text(sheet)
    return work


@pytest.fixture(scope="module")
def beamtime(tmp_path_factory) -> Path:
    """The tiny beamtime run to the report once, as a module of another project."""
    work = deploy(tmp_path_factory.mktemp("beamtime"))
    smk(work)
    return work


def test_module_deployment_runs_the_beamtime_to_the_report(beamtime):
    res = beamtime / "results"
    assert (res / "report.html").stat().st_size > 10_000
    rows = (res / "summary.csv").read_text().splitlines()
    assert rows[0].startswith("scan_id") and len(rows) == 3
    for scan in ("scanA", "scanB"):
        ome = zarr.open_group(str(res / scan / "scan.ome.zarr"), mode="r")
        assert ome.attrs["ome"]["multiscales"][0]["datasets"][0]["path"] == "0"
        assert ome["0"].shape == (12, 40, 40) and ome["labels/phases/0"].shape == (12, 40, 40)
        truth = json.loads((res / scan / "truth_check.json").read_text())
        assert abs(truth["center_error_px"]) < 0.5
        assert truth["mean_iou"] > 0.5
        assert (res / scan / "prep.zarr" / "zarr.json").is_file()  # layout.keep: [prep]
        assert not list((res / scan).glob("*.parts"))  # temporary slab stores are gone
    assert sorted(p.name for p in (res / "models").iterdir()) == ["default.cnn.pt",
                                                                 "default.rf.pt"]


def test_slab_jobs_give_the_in_memory_reconstruction(beamtime):
    """12 rows in jobs of 8: the joined volume equals reconstructing the scan in one piece."""
    from tomosnake.io import read_scan
    from tomosnake.preprocess.prepare import prepare
    from tomosnake.recon import reconstruct_rows

    raw = read_scan(beamtime / "resources" / "sim" / "a.h5")
    prep = prepare(raw, rings="sort")
    whole = reconstruct_rows(prep.proj, prep.theta, prep.meta["center"], crop=40)
    joined = zarr.open_array(str(beamtime / "results" / "scanA" / "scan.ome.zarr" / "0"))
    np.testing.assert_allclose(joined[...], whole, rtol=1e-5, atol=1e-6)
    assert len(list((beamtime / "logs" / "recon").glob("scanA.[0-9].log"))) == 2


def test_nothing_reruns_after_a_full_run(beamtime):
    assert planned(beamtime, "all") == set()


def test_scan_sheet_parameter_change_reruns_only_that_scan(beamtime):
    jobs = planned_with(
        beamtime, beamtime / "config" / "scans.tsv",
        lambda sheet: sheet.replace("method\n", "method\trecon.filter\n")
        .replace("rf\n", "rf\t\n").replace("cnn\n", "cnn\thann\n"),
    )
    assert {scan for _, scan in jobs if scan} == {"scanB"}
    assert ("recon_slab", "scanB") in jobs
    assert not {("ingest", "scanB"), ("flats", "scanB"), ("center", "scanB")} & jobs
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


CNN_CHAIN = {("segment_slab", "scanB"), ("segment_merge", "scanB"), ("truth_check", "scanB"),
             ("morphology", "scanB"), ("summary", "")}


def test_a_new_model_reruns_only_the_cnn_segmentation_and_what_follows(beamtime):
    model = beamtime / "results" / "models" / "default.cnn.pt"
    original = model.read_bytes()
    try:  # a replaced model file (other bytes: Snakemake compares checksums of small inputs)
        model.write_bytes(original + b"\0")
        jobs = planned(beamtime)
    finally:
        model.write_bytes(original)
    assert jobs == CNN_CHAIN


def test_cnn_epochs_retrain_only_the_cnn_and_leave_the_forest_scan_alone(beamtime):
    jobs = planned_with(beamtime, beamtime / "config" / "config.yaml",
                        config_with("segment", "epochs", 11))
    assert jobs == CNN_CHAIN | {("train_segmenter", "")}


def test_editing_a_stage_script_reruns_that_stage_and_what_follows(beamtime):
    jobs = planned_with(beamtime, beamtime.parent / "workflow" / "scripts" / "segment_slab.py",
                        lambda code: code + "\n# an edit\n")
    rules = {rule for rule, _ in jobs}
    assert {"segment_slab", "segment_merge", "morphology", "summary"} <= rules
    assert not rules & {"simulate_dxchange", "ingest", "center", "recon_slab", "recon_merge"}


UPSTREAM = {"simulate_dxchange", "flats", "ingest", "prep_merge"}


@pytest.mark.parametrize(
    "module,reruns,stays",
    [
        ("preprocess/zingers.py", {"ingest", "prep_merge", "center", "recon_slab"}, set()),
        ("recon/gridrec.py", {"center", "recon_slab", "recon_merge", "segment_slab",
                              "morphology"}, UPSTREAM),
        ("segment/classical.py", {"segment_slab", "segment_merge", "morphology"},
         UPSTREAM | {"center", "recon_slab", "recon_merge"}),
        ("morph/fractions.py", {"morphology", "summary"},
         UPSTREAM | {"center", "recon_slab", "segment_slab", "segment_merge"}),
    ],
    ids=["preprocess", "recon", "segment", "morph"],
)
def test_library_code_change_reruns_that_stage_and_what_follows(beamtime, module, reruns,
                                                               stays):
    path = beamtime.parent / "library" / "tomosnake" / module
    original = path.read_text()
    try:
        path.write_text(original + "\n# an upgrade\n")
        rules = {rule for rule, _ in planned(beamtime)}
    finally:
        path.write_text(original)
    assert reruns <= rules, reruns - rules
    assert not rules & stays, rules & stays


def test_killed_job_leaves_nothing_complete_and_is_redone(tmp_path):
    """SIGKILL snakemake while a reconstruction is being written: no level 0 of the volume,
    and a rerun finishes the work (outputs go to a hidden temp path renamed at the end)."""
    cfg = {**TINY, "simulate": {"a": {**TINY["simulate"]["a"], "shape": [48, 96, 96],
                                      "angles": 361}},
           "layout": {"slabs": 1, "keep": ["prep"]},
           "recon": {"crop": 96, "algorithm": "sirt"}}
    work = deploy(tmp_path, cfg, "scan_id\tpath\nscanA\tresources/sim/a.h5\n")
    smk(work, "results/scanA/prep.zarr")
    level0 = "results/scanA/scan.ome.zarr/0"
    proc = subprocess.Popen([*SNAKEMAKE, "--cores", "1", level0], cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(tmp_path / "library")})
    log = work / "logs" / "recon" / "scanA.0.log"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and "rule recon_slab" in log.read_text()):
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    smk(work, "--unlock")  # a killed Snakemake leaves its lock, as after a node crash
    assert not (work / level0).exists()
    assert not (work / "results" / "scanA" / "recon.parts" / "0.zarr" / "zarr.json").exists()
    assert ("recon_slab", "scanA") in planned(work, level0)
    smk(work, level0)
    assert (work / level0 / "zarr.json").is_file()
    assert not list((work / "results" / "scanA" / "recon.parts").glob(".*tmp*"))
