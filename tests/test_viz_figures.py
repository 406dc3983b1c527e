"""Per-scan figures, QC numbers and quality findings, on a phantom with known answers and on
real slices. Every plot is checked in its SVG: a title and both axes labelled in words with
units. The record builders here (morphology schema 2, center.json, segment_qc.json) follow
the project's JSON contracts and are reused by the report tests.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import xml.etree.ElementTree as ET

import matplotlib.pyplot as plt
import numpy as np
import pytest
import tifffile

from tomosnake.errors import ConfigError, InputError
from tomosnake.io import open_volume, write_volume
from tomosnake.morph import analyse, write_morphology_json
from tomosnake.viz import scan_figures, write_ome_zarr
from tomosnake.viz.figures import (
    box_plane_masks,
    class_boundaries,
    nice_length,
    ortho_figure,
    sample_box,
    sample_plane_masks,
    sweep_figure,
)
from tomosnake.viz.findings import (
    QCLimits,
    center_findings,
    morphology_findings,
    qc_number_findings,
    scan_findings,
    segment_findings,
)
from tomosnake.viz.inputs import open_level
from tomosnake.viz.qc import fractions_along_z, scan_qc
from tomosnake.viz.style import label_axes, print_style

PHASES = {"pore": 0, "cbd": 1, "nmc": 2}
MEANS = np.array([0.1, 0.5, 1.0], np.float32)
SIGMA = 0.05
SOLVER_KEYS = ("iterations", "seconds", "converged", "backend")
#: quantities whose axis labels need no unit in brackets (test's own list, on purpose)
DIMENSIONLESS = ("fraction", "tortuosity factor", "D_eff/D_0", "number", "correlation",
                 "confidence", "scan")
SVG = "{http://www.w3.org/2000/svg}"
BOX = [[2, 22], [4, 44], [5, 55]]


# ---- records as the contracts define them ------------------------------------------------


def morph_v1(rec2: dict) -> dict:
    """The schema-1 form of a :func:`analyse` record (older runs): solver statistics inside
    the tortuosity entries, no sample region, units or solver section."""
    rec = copy.deepcopy(rec2)
    rec["schema"] = "tomosnake.morphology/1"
    solver = rec.pop("solver", {}).get("tortuosity", {})
    for key in ("units", "sample", "settings", "tortuosity_rev"):
        rec.pop(key, None)
    for phase, per_axis in rec.get("tortuosity", {}).items():
        for axis, t in per_axis.items():
            for key in ("method", "tau_std", "n_subvolumes"):
                t.pop(key, None)
            t.update({k: solver[phase][axis][k] for k in SOLVER_KEYS})
    return rec


def center_record(agree: bool = True, width: int = 60, n_rows: int = 24) -> dict:
    """A center.json: three methods at three heights, a tilted line fit, sweep and FRC."""
    heights = [4, 12, 20]
    off = 0.0 if agree else 6.0
    freq = np.linspace(0, 0.5, 26)
    return {
        "schema": "tomosnake.center/1", "n_rows": n_rows, "detector_width": width,
        "theta_range_deg": 180.0, "heights": heights,
        "methods": {"vo": [30.6, 30.5, 30.4], "pc": [30.7 + off, 30.5 + off, None],
                    "sharpness": [30.5, 30.5, 30.5]},
        "method_errors": {"pc": "no overlap at row 20"},
        "agreement": {"tolerance_px": 1.0, "spread_px": 0.3 + off, "agree": agree,
                      "message": "agree" if agree else "disagree"},
        "used": {"method": "vo", "reason": "median of methods"},
        "fit": {"kind": "line", "slope_px_per_row": -0.0125, "intercept_px": 30.65,
                "rms_px": 0.02, "tilt_deg": -0.716},
        "center": 30.5, "per_row": None, "half_acquisition": False,
        "center_input_detector": 30.5,
        "sweep": {"row": 12, "centers": [28.5, 29.5, 30.5, 31.5, 32.5],
                  "metric": [0.2, 0.6, 1.0, 0.55, 0.25], "metric_name": "sharpness",
                  "best_center": 30.5, "tiff": "center_sweep.tif"},
        "frc": {"row": 12, "frequency": list(freq), "frc": list(np.exp(-((freq / 0.25) ** 2))),
                "threshold": list(0.2 + 0.5 * freq), "threshold_name": "half-bit",
                "resolution_px": 3.2, "resolution_um": 0.256},
    }


def segment_qc_record(mean: float = 0.93, nz: int = 24) -> dict:
    """A segment_qc.json of a CNN: confidence per slice with two uncertain slices."""
    z = list(range(nz))
    conf = [mean] * nz
    low = [0.05] * nz
    conf[7], low[7] = mean - 0.3, 0.45
    conf[15], low[15] = mean - 0.2, 0.3
    return {
        "schema": "tomosnake.segment_qc/1", "method": "cnn", "model": "segment_cnn.pt",
        "model_sha256": "ab" * 32, "phases": PHASES,
        "per_slice": {"z": z, "mean_confidence": conf, "low_confidence_fraction": low},
        "low_confidence_threshold": 0.6, "suggested_slices": [7, 15], "labelled_slices": [4, 16],
        "warnings": [],
    }


def write_sweep(path, centers, n: int = 40) -> None:
    """A centre-sweep TIFF: one (n, n) float32 page per centre, {"center": c} in each page."""
    rng = np.random.default_rng(0)
    with tifffile.TiffWriter(path) as tif:
        for c in centers:
            tif.write(rng.random((n, n), np.float32), description=json.dumps({"center": c}))


# ---- the SVG check every plot must pass --------------------------------------------------


def label_problem(text: str) -> str:
    """Why an axis label is not words with a unit ("" if it is)."""
    if not text.strip():
        return "empty"
    if "_" in text.replace("D_eff/D_0", "") or re.search(r"\w\.\w+\.\w", text):
        return f"looks like a key: {text!r}"
    if re.search(r"\([^)]+\)\s*$", text) or any(w in text for w in DIMENSIONLESS):
        return ""
    return f"no unit: {text!r}"


def svg_problems(svg: bytes) -> list[str]:
    """Missing titles and unlabelled axes of a matplotlib SVG (text kept as text)."""
    root = ET.fromstring(svg)

    def text_of(node) -> str:
        return " ".join("".join(t.itertext()) for t in node.iter(f"{SVG}text")).strip()

    groups = [g for g in root.iter(f"{SVG}g")]
    out = []
    if not any(g.get("id") == "title" and text_of(g) for g in groups):
        out.append("no title")
    for axes in (g for g in groups if (g.get("id") or "").startswith("axes_")):
        if not any((g.get("id") or "").startswith("matplotlib.axis") for g in axes.iter(f"{SVG}g")):
            continue  # no axis drawn (images, legends)
        for which in ("xlabel", "ylabel"):
            found = [text_of(g) for g in axes.iter(f"{SVG}g") if g.get("id") == which]
            why = label_problem(found[0]) if found else "missing"
            if why:
                out.append(f"{axes.get('id')} {which}: {why}")
    return out


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    """Layers of pore / cbd / nmc along x with Gaussian noise (sigma 0.05), 0.08 µm voxels,
    its morphology (schema 2, sample box), a centre record, sweep TIFF and confidence record."""
    root = tmp_path_factory.mktemp("phantom")
    rng = np.random.default_rng(0)
    shape = (24, 48, 60)
    labels = np.zeros(shape, np.uint8)
    labels[:, :, 20:40] = 1
    labels[:, :, 40:] = 2
    labels[:12, :, 35:40] = 2  # fractions change along z
    recon = MEANS[labels] + rng.normal(0, SIGMA, shape).astype(np.float32)
    attrs = {
        "voxel_size_um": 0.08,
        "center": 30.5,
        "algorithm": "gridrec",
        "preprocess": {"qc": {"ring_metric_before": 0.9, "ring_metric_after": 0.3}},
    }
    write_volume(root / "recon.zarr", recon, attrs)
    write_volume(root / "labels.zarr", labels, {"phases": PHASES, "voxel_size_um": 0.08})
    rec = analyse(labels, PHASES, 0.08, settings={"sample": {"mode": "box", "box": BOX}})
    write_morphology_json(rec, root / "morphology.json")
    (root / "center.json").write_text(json.dumps(center_record()))
    (root / "segment_qc.json").write_text(json.dumps(segment_qc_record()))
    write_sweep(root / "center_sweep.tif", [28.5 + 0.25 * i for i in range(17)])
    out = scan_figures(
        root / "recon.zarr", root / "labels.zarr", root / "figures",
        center_json=root / "center.json", sweep_tiff=root / "center_sweep.tif",
        morphology_json=root / "morphology.json", segment_qc_json=root / "segment_qc.json",
    )
    return root, labels, out, rec


def test_scan_figures_files(phantom):
    root, _, out, _ = phantom
    figures = {"orthoslices", "orthoslices_labels", "histogram", "fractions_z", "surfaces_3d",
               "sizes", "center", "center_sharpness", "frc", "center_sweep", "confidence"}
    assert set(out) == figures | {"qc_json", "manifest"}
    manifest = json.loads((root / "figures" / "figures.json").read_text())["figures"]
    assert {f["name"] for f in manifest} == figures
    for f in manifest:
        png, svg = root / "figures" / f["png"], root / "figures" / f["svg"]
        assert svg.read_bytes().startswith(b"<?xml"), f["name"]
        image = plt.imread(png)
        assert image.shape[1] >= 1000, f["name"]  # 300 dpi at 3.5 in or more
        assert image[..., :3].std() > 0.05, f["name"]
        assert f["kind"] == ("image" if f["name"] in {"orthoslices", "orthoslices_labels",
                                                      "surfaces_3d", "center_sweep"} else "plot")


def test_every_plot_has_title_and_axes_with_units(phantom):
    root, _, _, _ = phantom
    manifest = json.loads((root / "figures" / "figures.json").read_text())["figures"]
    for f in manifest:
        if f["kind"] == "plot":
            assert svg_problems((root / "figures" / f["svg"]).read_bytes()) == [], f["name"]
    # the words are the ones a paper needs
    sizes = (root / "figures" / "sizes.svg").read_text()
    assert "local thickness (µm)" in sizes and "cumulative volume fraction" in sizes
    assert "median" in sizes


def test_svg_check_finds_unlabelled_plots(tmp_path):
    """The check fails on what the old report drew: key names as labels, no title."""
    from tomosnake.viz.style import figure_bytes

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("x (µm)")  # labels that are not tagged are not found
    assert svg_problems(figure_bytes(fig, "svg")) == [
        "no title", "axes_1 xlabel: missing", "axes_1 ylabel: missing"]
    label_axes(ax, "", "bin_edges_um (bin centres)", "fraction")
    problems = svg_problems(figure_bytes(fig, "svg"))
    assert problems == ["no title", "axes_1 xlabel: looks like a key: 'bin_edges_um (bin centres)'"]
    with print_style():
        fig, ax = plt.subplots()
        label_axes(ax, "t", "pore diameter", "volume fraction")
    assert svg_problems(figure_bytes(fig, "svg")) == ["axes_1 xlabel: no unit: 'pore diameter'"]


def test_qc_numbers_match_the_phantom(phantom):
    root, _, _, _ = phantom
    qc = json.loads((root / "figures" / "qc.json").read_text())
    assert qc["center"] == 30.5
    assert (qc["ring_metric_before"], qc["ring_metric_after"]) == (0.9, 0.3)  # found nested
    assert qc["shape_zyx"] == [24, 48, 60]
    # the wavelet noise estimate sees the noise, not the (sparse) phase edges
    assert qc["noise_sigma"] == pytest.approx(SIGMA, rel=0.2)
    for name, mean in zip(PHASES, MEANS, strict=True):
        assert qc["phase_grey"][name]["mean"] == pytest.approx(mean, abs=0.005)
        assert qc["phase_grey"][name]["std"] == pytest.approx(SIGMA, rel=0.05)
    assert qc["cnr"]["pore/cbd"] == pytest.approx(0.4 / SIGMA, rel=0.05)
    assert qc["cnr"]["cbd/nmc"] == pytest.approx(0.5 / SIGMA, rel=0.05)
    assert qc_number_findings(qc, QCLimits()) == []


def test_fractions_along_z(phantom):
    root, labels, _, _ = phantom
    got = fractions_along_z(open_volume(root / "labels.zarr"), PHASES)
    for name, code in PHASES.items():
        np.testing.assert_allclose(got[name], (labels == code).mean(axis=(1, 2)))
    assert got["nmc"][0] == pytest.approx(25 / 60) and got["nmc"][-1] == pytest.approx(20 / 60)
    # planes sampled on a grid (every 2nd voxel: x = 0, 2, ...) give the sampled fractions
    sampled = fractions_along_z(open_volume(root / "labels.zarr"), PHASES, max_plane_voxels=800)
    np.testing.assert_allclose(sampled["nmc"], (labels[:, ::2, ::2] == 2).mean(axis=(1, 2)))


def test_sample_outline_follows_the_region():
    """The record's region (full-resolution voxels) lands on the displayed, strided planes."""
    sample = {"mode": "box", "bbox_zyx": BOX, "params": {"box": BOX}}
    assert sample_box(sample, [24, 48, 60], (24, 48, 60)) == [(2, 22), (4, 44), (5, 55)]
    half = sample_box(sample, [24, 48, 60], (12, 24, 30))  # pyramid level 1
    assert half == [(1, 11), (2, 22), (2.5, 27.5)]
    assert sample_box({"mode": "none", "bbox_zyx": [[0, 1]] * 3}, None, (4, 4, 4)) is None
    masks = sample_plane_masks(sample, [24, 48, 60], (24, 48, 60), (12, 24, 30), 1)
    yy, xx = np.nonzero(masks["xy"])
    assert (yy.min(), yy.max(), xx.min(), xx.max()) == (4, 43, 5, 54)
    zz, xx = np.nonzero(masks["xz"])
    assert (zz.min(), zz.max(), xx.min(), xx.max()) == (2, 21, 5, 54)
    strided = sample_plane_masks(sample, [24, 48, 60], (24, 48, 60), (12, 24, 30), 4)
    assert strided["xy"].shape == (12, 15) and strided["xy"][1:11, 2:14].all()
    level1 = sample_plane_masks(sample, [24, 48, 60], (12, 24, 30), (6, 12, 15), 1)
    assert level1["xy"].sum() == 20 * 25  # (4..44)/2 x (5..55)/2 voxels of level 1
    # a plane outside the box shows no region
    assert not box_plane_masks(half, (11, 12, 15), (12, 24, 30), 1)["xy"].any()
    # a cylinder: a disc in the xy plane (voxel centres within the radius)
    cyl = {"mode": "cylinder", "bbox_zyx": [[0, 24], [4, 44], [10, 50]],
           "params": {"center_yx": [24.0, 30.0], "radius": 20.0, "z": [0, 24]}}
    disc = sample_plane_masks(cyl, [24, 48, 60], (24, 48, 60), (12, 24, 30), 1)["xy"]
    yy, xx = np.mgrid[:48, :60] + 0.5
    np.testing.assert_array_equal(disc, (yy - 24) ** 2 + (xx - 30) ** 2 <= 400)


def test_sweep_contact_sheet(tmp_path):
    """17 trial centres -> at most 12 panels, each titled with its centre; best framed."""
    centres = [28.5 + 0.25 * i for i in range(17)]
    write_sweep(tmp_path / "s.tif", centres)
    rec = center_record()
    rec["sweep"]["best_center"] = 30.25  # not on the evenly spaced pick: swapped in
    fig = sweep_figure(tmp_path / "s.tif", rec)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    plt.close(fig)
    assert len(titles) == 12 and "best: centre 30.25 px" in titles
    assert all(re.fullmatch(r"(best: )?centre \d+\.\d\d px", t) for t in titles)
    (tmp_path / "bad.tif").write_bytes(b"not a tiff")
    with pytest.raises(InputError, match="bad.tif: not a readable centre sweep"):
        sweep_figure(tmp_path / "bad.tif", rec)


def test_findings_in_words():
    limits = QCLimits()
    bad = center_findings(center_record(agree=False), limits)
    assert bad[0].code == "center_disagree" and "6.3 px" in bad[0].message
    assert "preprocess.center" in bad[0].advice
    codes = [f.code for f in center_findings(center_record(), limits)]
    assert codes == ["center_method_failed", "axis_tilt", "resolution"]
    seg = segment_findings(segment_qc_record(mean=0.6), limits)
    assert [f.code for f in seg] == ["low_confidence", "uncertain_slices"]
    assert "label slices z = 7, 15 next" in seg[0].advice
    assert "z = 7 (45 %)" in seg[1].message
    # the default fail_on makes disagreeing centres and low confidence fail the scan
    found = scan_findings(None, center_record(agree=False), segment_qc_record(mean=0.6))
    assert [f.code for f in found if f.severity == "fail"] == ["center_disagree", "low_confidence"]
    relaxed = QCLimits.from_settings({"fail_on": []})
    assert not [f for f in scan_findings(None, center_record(agree=False), limits=relaxed)
                if f.severity == "fail"]
    with pytest.raises(ConfigError, match="report.qc: unknown key"):
        QCLimits.from_settings({"min_voxels": 3})
    qc = {"ring_metric_before": 0.2, "ring_metric_after": 0.5, "center": 90.0,
          "shape_zyx": [10, 100, 100], "cnr": {"pore/cbd": 1.2, "cbd/nmc": 5.0}}
    assert [f.code for f in qc_number_findings(qc, limits)] == [
        "ring_rose", "center_far", "low_contrast"]


def test_morphology_findings_on_the_phantom(phantom):
    """Layers stacked along x: no phase crosses the volume along x; all do along z and y."""
    _, _, _, rec = phantom
    found = morphology_findings(rec, QCLimits())
    non_perc = {f.message.split(" does")[0] + " " + f.message.split("along ")[1][0]
                for f in found if f.code == "non_percolating"}
    assert non_perc == {"pore x", "cbd x", "nmc x"}
    assert any(f.code == "few_sample_voxels" and "40,000 voxels" in f.message for f in found)


def test_ome_zarr_level_as_input(phantom, tmp_path):
    """A pyramid level has no attributes: voxel size and phases come from its group."""
    root, labels, _, _ = phantom
    store = write_ome_zarr(root / "recon.zarr", root / "labels.zarr", tmp_path / "s.ome.zarr")
    vol, attrs, _ = open_level(store / "labels" / "phases" / "1", "labels")
    assert vol.shape == (12, 24, 30)
    assert attrs == {"voxel_size_um": pytest.approx(0.16), "phases": PHASES,
                     "level0_shape": [24, 48, 60]}
    # the QC numbers of a level speak of the full volume (centre 30.5 of 60 columns)
    recon1, recon_attrs, _ = open_level(store / "1", "reconstruction")
    qc = scan_qc(recon1, vol, recon_attrs, PHASES)
    assert qc["shape_zyx"] == [24, 48, 60] and qc["center"] == 30.5
    assert qc_number_findings(qc, QCLimits()) == []
    # without level 0 beside it, the group's multiscales metadata give size and phases
    shutil.rmtree(store / "labels" / "phases" / "0")
    assert open_level(store / "labels" / "phases" / "1", "labels")[1] == {
        "voxel_size_um": pytest.approx(0.16), "phases": PHASES}
    fig = ortho_figure(vol, vol, PHASES, attrs["voxel_size_um"])
    plt.close(fig)


def test_nice_length():
    assert nice_length(4.0) == 1.0
    assert nice_length(400.0) == 100.0
    assert nice_length(30.0) == 5.0
    assert nice_length(0.9) == pytest.approx(0.2)


def test_class_boundary_of_two_equal_gaussians():
    centres = np.linspace(-1, 2, 301)
    hists = {"a": np.exp(-(centres**2) / 0.02), "b": np.exp(-((centres - 1) ** 2) / 0.02)}
    ((pair, value),) = class_boundaries(hists, centres, {"a": 0.0, "b": 1.0})
    assert pair == "a/b" and value == pytest.approx(0.5, abs=0.01)


def test_mismatched_or_flat_inputs(tmp_path):
    write_volume(tmp_path / "r.zarr", np.zeros((4, 8, 8), np.float32), {})
    write_volume(tmp_path / "l.zarr", np.zeros((4, 8, 9), np.uint8), {})
    write_volume(tmp_path / "flat.zarr", np.zeros((8, 8), np.float32), {})
    with pytest.raises(InputError, match="l.zarr: labels have shape"):
        scan_figures(tmp_path / "r.zarr", tmp_path / "l.zarr", tmp_path / "f")
    with pytest.raises(InputError, match="3-D"):
        scan_figures(tmp_path / "flat.zarr", None, tmp_path / "f")
    (tmp_path / "m.json").write_text('{"schema": "other/1"}')
    with pytest.raises(InputError, match="m.json: schema 'other/1' is not a morphology"):
        scan_figures(tmp_path / "r.zarr", None, tmp_path / "f", morphology_json=tmp_path / "m.json")


def test_real_segmentpy_slices(shared_data, tmp_path):
    """Five real NMC slices (499 x 601) with their hand labels, recoded to pore/cbd/nmc."""
    folder = shared_data / "segmentpy_nmc"
    ids = (1, 100, 200, 300, 400)
    grey = np.stack([tifffile.imread(folder / f"{i}.tif") for i in ids]).astype(np.float32)
    # SegmentPy codes 0 = NMC, 1 = CBD, 2 = pore -> workflow codes pore 0, cbd 1, nmc 2
    labels = (2 - np.stack([tifffile.imread(folder / f"{i}_label.tif") for i in ids])).astype(
        np.uint8
    )
    write_volume(tmp_path / "recon.zarr", grey, {"source": str(folder)})
    write_volume(tmp_path / "labels.zarr", labels, {"phases": PHASES})
    out = scan_figures(tmp_path / "recon.zarr", tmp_path / "labels.zarr", tmp_path / "fig")
    assert (tmp_path / "fig" / out["orthoslices_labels"]).is_file()
    assert (tmp_path / "fig" / "orthoslices_labels.svg").is_file()
    qc = json.loads((tmp_path / "fig" / "qc.json").read_text())
    means = {k: v["mean"] for k, v in qc["phase_grey"].items()}
    # README: NMC brightest, CBD in between, pore darkest
    assert means["pore"] < means["cbd"] < means["nmc"]
    # pore and CBD overlap in grey value: the finding says so in words
    low = [f for f in qc_number_findings(qc, QCLimits()) if f.code == "low_contrast"]
    assert [f.message.split(" (")[0] for f in low] == [
        "low grey-value contrast between pore and cbd"]
    fractions = fractions_along_z(open_volume(tmp_path / "labels.zarr"), PHASES)
    # README: slice 100 is 67 % NMC, 26 % CBD, 7 % pore
    assert fractions["nmc"][1] == pytest.approx(0.67, abs=0.01)
    assert fractions["cbd"][1] == pytest.approx(0.26, abs=0.01)
    assert fractions["pore"][1] == pytest.approx(0.07, abs=0.01)


def test_reconstruction_only(phantom, tmp_path):
    root, _, _, _ = phantom
    out = scan_figures(root / "recon.zarr", None, tmp_path / "fig")
    assert set(out) == {"orthoslices", "histogram", "qc_json", "manifest"}
    qc = json.loads((tmp_path / "fig" / "qc.json").read_text())
    assert "phase_grey" not in qc and qc["center"] == 30.5
