"""A real beamtime segmented from the scientist's own labelled slices, inside the workflow.

The beamtime: the real DIAD scan, a scan whose labels are a SegmentPy folder of painted slices
(painted here from the simulator's truth, in SegmentPy's own values nmc=0, cbd=1, pore=2)
and a third scan segmented by multi-Otsu. Nothing is in ``segment.train_scans``: the U-Net
trains on the painted slices alone and segments both cnn scans.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile
import torch
import yaml
import zarr
from test_workflow import REPO, deploy, planned, smk

from tomosnake.beamtime import Beamtime
from tomosnake.errors import ConfigError
from tomosnake.preflight import PreflightError
from tomosnake.synth import make_spec, write_simulated_scan

pytestmark = pytest.mark.slow

DIAD = REPO.parent / "shared" / "data" / "real_scans" / "diad_k11-18014" / "k11-18014.nxs"
SEGMENTPY = {"nmc": 0, "cbd": 1, "pore": 2}
PAINTED = [2, 6, 10]
CONFIG = {
    "scans": "config/scans.tsv",
    "layout": {"slab_rows": 8},
    "recon": {"crop": 40},
    "segment": {"method": "cnn", "epochs": 20, "patch": 32, "width": 8, "depth": 2,
                "label_phases": SEGMENTPY},
    "morph": {"metrics": ["fractions"]},
}
SHEET = (
    "scan_id\tpath\tformat\tvoxel_size_um\trecon.crop\tsegment.labels\tsegment.method\n"
    "lab\traw/lab.h5\tdxchange\t\t\tlabels/lab\t\n"
    f"diad\t{DIAD}\tnexus\t1.0\t26\t\t\n"
    "plain\traw/plain.h5\tdxchange\t\t\t\totsu\n"
)


def paint(truth: zarr.Group, folder, slices, values=SEGMENTPY) -> None:
    """A SegmentPy folder: N.tif (grey) and N_label.tif painted from the truth."""
    folder.mkdir(parents=True, exist_ok=True)
    codes = {name: int(v) for name, v in truth.attrs["phases"].items()}
    for z in slices:
        t = np.asarray(truth["labels"][z])
        label = np.zeros_like(t, dtype=np.uint8)
        for name, code in codes.items():
            label[t == code] = values[name]
        tifffile.imwrite(folder / f"{z}.tif", t.astype(np.float32))
        tifffile.imwrite(folder / f"{z}_label.tif", label)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """The beamtime run to the summary; returns (project folder, the lab scan's truth)."""
    work = deploy(tmp_path_factory.mktemp("labelled"), CONFIG, SHEET)
    spec = dict(shape=[12, 40, 40], angles=64, range=180, center_offset=1.5)
    write_simulated_scan(work / "raw" / "lab.h5", make_spec(**spec, seed=4))
    write_simulated_scan(work / "raw" / "plain.h5", make_spec(**spec, seed=5))
    truth = zarr.open_group(str(work / "raw" / "lab_truth.zarr"), mode="r")
    paint(truth, work / "labels" / "lab", PAINTED)
    smk(work, "results/summary.csv")
    return work, truth


def test_the_model_trains_on_the_painted_slices_and_segments_both_cnn_scans(labelled):
    work, truth = labelled
    res = work / "results"
    assert sorted(p.name for p in (res / "models").iterdir()) == ["default.cnn.pt"]
    training = torch.load(res / "models" / "default.cnn.pt", weights_only=False)["training"]
    (source,) = training["label_sources"]
    assert source["z"] == PAINTED and source["labels"] == "labels/lab"
    assert source["label_phases"] == SEGMENTPY
    for scan in ("lab", "diad"):
        labels = zarr.open_array(str(res / scan / "scan.ome.zarr/labels/phases/0"), mode="r")
        assert labels.attrs["method"] == "cnn"
        qc = json.loads((res / scan / "segment_qc.json").read_text())
        assert qc["model"] == "results/models/default.cnn.pt" and len(qc["model_sha256"]) == 64
        assert qc["per_slice"]["z"] == list(range(labels.shape[0]))
        conf = np.asarray(qc["per_slice"]["mean_confidence"])
        assert np.all((conf > 0.3) & (conf <= 1.0))
        assert qc["suggested_slices"] and not set(qc["suggested_slices"]) & set(PAINTED if
                                                                                 scan == "lab"
                                                                                 else [])
    qc = json.loads((res / "lab" / "segment_qc.json").read_text())
    assert qc["labelled_slices"] == PAINTED
    # the slices nobody painted come out right: the model learnt the phases, not the slices
    found = zarr.open_array(str(res / "lab" / "scan.ome.zarr/labels/phases/0"), mode="r")[...]
    t = np.asarray(truth["labels"][...])
    others = [z for z in range(t.shape[0]) if z not in PAINTED]
    iou = []
    for code in truth.attrs["phases"].values():
        a, b = found[others] == code, t[others] == code
        iou.append(np.logical_and(a, b).sum() / np.logical_or(a, b).sum())
    assert np.mean(iou) > 0.75, iou
    plain = zarr.open_array(str(res / "plain" / "scan.ome.zarr/labels/phases/0"), mode="r")
    assert plain.attrs["method"] == "otsu"


def test_editing_one_label_file_retrains_and_reruns_the_cnn_scans_only(labelled):
    work, _ = labelled
    label = work / "labels" / "lab" / "6_label.tif"
    original = label.read_bytes()
    painted = tifffile.imread(label)
    painted[0, 0] = (painted[0, 0] + 1) % 3  # one pixel painted again (touching is no edit:
    try:  # Snakemake compares the checksums of small inputs)
        tifffile.imwrite(label, painted)
        jobs = planned(work, "results/summary.csv")
    finally:
        label.write_bytes(original)
    assert jobs == {("train_segmenter", ""), ("summary", "")} | {
        (rule, scan) for rule in ("segment_slab", "segment_merge", "morphology")
        for scan in ("lab", "diad")}


def test_a_new_labelled_slice_retrains(labelled):
    work, truth = labelled
    folder = work / "labels" / "lab"
    try:
        paint(truth, folder, [4])
        jobs = planned(work, "results/summary.csv")
    finally:
        for f in ("4.tif", "4_label.tif"):
            (folder / f).unlink()
    assert ("train_segmenter", "") in jobs and ("segment_slab", "plain") not in jobs


def _project(root, sheet=SHEET):
    """A beamtime folder with the two simulated scans and the painted SegmentPy folder."""
    work = deploy(root, CONFIG, sheet)
    spec = dict(shape=[12, 40, 40], angles=64, range=180, center_offset=1.5)
    write_simulated_scan(work / "raw" / "lab.h5", make_spec(**spec, seed=4))
    write_simulated_scan(work / "raw" / "plain.h5", make_spec(**spec, seed=5))
    truth = zarr.open_group(str(work / "raw" / "lab_truth.zarr"), mode="r")
    paint(truth, work / "labels" / "lab", PAINTED)
    return work


@pytest.mark.parametrize(
    ("spoil", "file", "problem"),
    [
        (lambda f: tifffile.imwrite(f / "6_label.tif", np.full((40, 40), 7, np.uint8)),
         "6_label.tif", "label values [7] are not in the phase map"),
        (lambda f: tifffile.imwrite(f / "30_label.tif", np.zeros((40, 40), np.uint8)),
         "30_label.tif", "slice index 30 is outside the reconstruction's slices 0..11"),
        (lambda f: tifffile.imwrite(f / "6_label.tif", np.zeros((32, 40), np.uint8)),
         "6_label.tif", "label image is 32 x 40 (y, x) but the reconstruction's slices are "
         "40 x 40"),
        (lambda f: (f / "labels.json").write_text(json.dumps(
            {"phases": SEGMENTPY, "unlabelled": 255,
             "volume": "results/ghost/scan.ome.zarr/0"})),
         "labels.json", "exported from scan 'ghost' (a scan that is not in the scan sheet) but "
         "given as the labels of scan 'lab'"),
    ],
    ids=["value-not-in-map", "slice-outside", "wrong-size", "scan-not-in-sheet"],
)
def test_bad_labels_are_found_before_any_job_naming_the_file(tmp_path, monkeypatch, spoil,
                                                             file, problem):
    """The workflow's own planning (tomosnake.beamtime, as common.smk runs it)."""
    work = _project(tmp_path)
    spoil(work / "labels" / "lab")
    monkeypatch.chdir(work)
    with pytest.raises(PreflightError) as err:
        Beamtime(yaml.safe_load((work / "config" / "config.yaml").read_text())).preflight()
    (found,) = err.value.problems
    assert found.scan == "lab" and found.file == f"labels/lab/{file}"
    assert problem in found.problem


def test_snakemake_stops_before_any_job_with_the_problem_table(tmp_path):
    work = _project(tmp_path)
    tifffile.imwrite(work / "labels" / "lab" / "6_label.tif", np.full((40, 40), 7, np.uint8))
    proc = smk(work, "-n", "results/summary.csv", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "1 problem(s) in 1 scan(s)" in out, out[-3000:]  # one table, the file named in it
    assert "labels/lab/6_label.tif" in out and "label values [7] are not in the" in out
    assert "Traceback" not in out and not (work / "results").exists()


def test_a_scan_needing_a_model_without_labels_is_refused(tmp_path, monkeypatch):
    work = _project(tmp_path, SHEET.replace("labels/lab", ""))
    monkeypatch.chdir(work)
    with pytest.raises(ConfigError, match="no scan of its group 'default' has segment.labels"):
        Beamtime(yaml.safe_load((work / "config" / "config.yaml").read_text())).preflight()


def test_label_export_by_scan_id_picks_the_least_confident_slices(labelled):
    work, _ = labelled
    out = work / "labels" / "next"
    proc = subprocess.run([sys.executable, "-m", "tomosnake", "label", "export", "lab", str(out),
                           "--auto", "2"], cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    sidecar = json.loads((out / "labels.json").read_text())
    assert sidecar["volume"] == "results/lab/scan.ome.zarr/0"
    assert sidecar["model"] == "results/models/default.cnn.pt"  # pre-filled by the model
    slices = sorted(int(z) for z in sidecar["slices"])
    assert len(slices) == 2 and all(0 <= z < 12 for z in slices)
    assert all(sidecar["slices"][str(z)]["prefill_sha256"] for z in slices)
