"""The beamtime report: content, numbers, CLI, and a real headless Chromium rendering it.

Three phantom scans are analysed by tomosnake.morph (two as schema 2 records, one as
schema 1). Their pore tortuosity is set to tau = eps**-1.5 exactly, so the Bruggeman fit
must give beta = 1.5 -- unless a left-out value leaks in: scan s3 fails QC (its centre
methods disagree) and carries a pore tau of 173 (as the tiny real scan did), and s2's cbd
does not percolate along z. The browser test drives Chromium (SwiftShader WebGL) over the
DevTools protocol and fails on console errors, exceptions, network requests, images that do
not decode and a 3-D viewer that draws nothing.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from test_viz_figures import center_record, morph_v1, segment_qc_record, svg_problems

from tomosnake.cli import main
from tomosnake.errors import ConfigError, InputError
from tomosnake.io import write_volume
from tomosnake.morph import analyse, write_morphology_json
from tomosnake.provenance import collect_provenance, sha256
from tomosnake.synth.phantom import PhantomSpec, nmc_phantom
from tomosnake.viz import (
    ScanInputs,
    build_report,
    export_meshes,
    scan_figures,
    write_ome_zarr,
)
from tomosnake.viz.benchmarks import sum_benchmarks
from tomosnake.viz.methods import methods_text
from tomosnake.viz.morphology import flatten_numbers, tortuosities
from tomosnake.viz.style import phase_color

CHROMIUM = Path("/usr/bin/chromium")
PHASES = {"pore": 0, "cbd": 1, "nmc": 2}
BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
SCANS = {"s1": ("A", 0, 0.40), "s2": ("A", 10, 0.50), "s3": ("B", 0, 0.45)}
SETTINGS = {
    "preprocess": {"zingers": True, "rings": "sort", "center": "auto", "center_method": "vo",
                   "paganin": None},
    "recon": {"algorithm": "gridrec", "filter": "shepp", "slabs": 2, "crop": None},
    "segment": {"method": "cnn", "chunks": 2, "train_scans": ["s1"], "train_slices": [4, 16],
                "epochs": 30},
    "morph": {"metrics": ["fractions", "surface", "connectivity", "tortuosity", "sizes"],
              "voxel_size_um": None},
}
SERIES = {"group_by": "sample", "order_by": "cycle", "label": "cycle number"}


def _set_tau(t: dict, tau: float | None) -> None:
    """Overwrite a tortuosity entry (schema 1 or 2) with a chosen tau."""
    t["tau"] = tau
    t["percolates"] = tau is not None
    t["d_rel"] = t["eps"] / tau if tau else 0.0
    t["macmullin"] = tau / t["eps"] if tau else None
    t["flag"] = "" if tau else "non-percolating"


def _record(scan: str, labels: np.ndarray) -> dict:
    box = [[1, 23], [2, 46], [2, 46]]
    rec = analyse(labels, PHASES, 0.25, settings={"sample": {"mode": "box", "box": box}})
    for t in rec["tortuosity"]["pore"].values():
        _set_tau(t, t["eps"] ** -1.5)
    if scan == "s2":
        _set_tau(rec["tortuosity"]["cbd"]["z"], None)
        return morph_v1(rec)  # older runs: the report reads them too
    if scan == "s3":
        _set_tau(rec["tortuosity"]["pore"]["z"], 173.0)
    return rec


def _settings(scan: str) -> dict:
    s = json.loads(json.dumps(SETTINGS))
    if scan == "s2":
        s["segment"]["method"] = "otsu"
    if scan == "s3":
        s["preprocess"]["paganin"] = {"energy_kev": 20, "distance_m": 0.5, "delta_beta": 100}
    return s


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("results")
    scans, records = [], {}
    for i, (scan, (sample, cycle, nmc)) in enumerate(SCANS.items()):
        folder = root / scan
        folder.mkdir()
        labels = nmc_phantom(PhantomSpec(shape=(24, 48, 48), nmc_fraction=nmc, radius_mean=6,
                                         seed=i))
        records[scan] = _record(scan, labels)
        write_morphology_json(records[scan], folder / "morphology.json")
        kw: dict = {}
        if scan == "s1":
            rng = np.random.default_rng(0)
            recon = np.array([0.1, 0.5, 1.0], np.float32)[labels]
            recon += rng.normal(0, 0.05, labels.shape).astype(np.float32)
            write_volume(folder / "recon.zarr", recon, {"voxel_size_um": 0.25, "center": 24.0})
            write_volume(folder / "labels.zarr", labels, {"phases": PHASES, "voxel_size_um": 0.25})
            (folder / "center.json").write_text(json.dumps(center_record(width=48)))
            (folder / "segment_qc.json").write_text(json.dumps(segment_qc_record()))
            (folder / "truth_check.json").write_text(json.dumps(
                {"center_error_px": 0.1, "iou": {"pore": 0.95, "cbd": 0.8, "nmc": 0.97},
                 "mean_iou": 0.907}))
            scan_figures(folder / "recon.zarr", folder / "labels.zarr", folder / "figures",
                         center_json=folder / "center.json",
                         morphology_json=folder / "morphology.json",
                         segment_qc_json=folder / "segment_qc.json")
            write_ome_zarr(folder / "recon.zarr", folder / "labels.zarr", folder / "scan.ome.zarr")
            kw = {"center_json": folder / "center.json",
                  "segment_qc_json": folder / "segment_qc.json",
                  "truth_check_json": folder / "truth_check.json",
                  "figures_dir": folder / "figures", "ome_zarr": folder / "scan.ome.zarr"}
        if scan in ("s1", "s2"):
            write_volume(folder / "labels.zarr", labels, {"phases": PHASES, "voxel_size_um": 0.25})
            export_meshes(folder / "labels.zarr", folder / "meshes")
            kw["meshes_dir"] = folder / "meshes"
        if scan == "s3":
            (folder / "center.json").write_text(json.dumps(center_record(agree=False, width=48)))
            kw["center_json"] = folder / "center.json"
        row = {"scan_id": scan, "path": f"raw/{scan}.h5", "sample": sample, "cycle": cycle,
               "recon.filter": "shepp"}
        bench = []
        for rule, target, seconds in [("recon", scan, 12.5), ("segment_chunk", f"{scan}_0", 30.0),
                                      ("segment_chunk", f"{scan}_1", 40.0)]:
            path = root / "benchmarks" / rule / f"{target}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(BENCH_HEADER + f"{seconds}\t0:00:{int(seconds):02d}\t512.5\t900\t400\t"
                            f"410\t1.0\t2.0\t95.0\t{seconds - 1}\n")
            bench.append(path)
        scans.append(ScanInputs(scan, folder / "morphology.json", row, _settings(scan),
                                benchmarks=[*bench, root / "benchmarks" / "nope" / "x.tsv"], **kw))
    (root / "summary.csv").write_text("scan_id,vf_pore\ns1,0.4\ns2,0.5\ns3,0.45\n")
    inputs = tmp_path_factory.mktemp("inputs")
    (inputs / "config.yaml").write_text("scans: scans.tsv\n")
    (inputs / "scans.tsv").write_text("scan_id\tpath\ns1\ta.h5\n")
    prov = collect_provenance(inputs / "config.yaml", inputs / "scans.tsv", str(root))
    prov["git_commit"] = "0123456789abcdef"
    report = build_report(root / "report.html", scans, root / "summary.csv", prov, SERIES,
                          "test beamtime")
    return {"root": root, "scans": scans, "records": records, "report": report,
            "page": report.read_text(), "config": inputs / "config.yaml"}


def _section(page: str, scan: str) -> str:
    return re.search(rf'<section class="scan" id="scan-{scan}">.*?</section>', page, re.S).group(0)


def _without_all_numbers(page: str) -> str:
    page = re.sub(r'<details class="allnum">.*?</details>', "", page, flags=re.S)
    return re.sub(r"<script.*?</script>", "", page, flags=re.S)


def _fit_row(page: str, phase: str) -> list[float]:
    row = re.search(rf"</span>{phase}</td>(.*?)</tr>", page.split('id="fig-bruggeman"')[1], re.S)
    return [float(v) for v in re.findall(r'data-v="([^"]+)"', row.group(1))]


def test_morphology_table_phases_by_quantities(results):
    s1 = _section(results["page"], "s1")
    rec = results["records"]["s1"]
    table = s1.split("<h4>Morphology</h4>")[1].split("</table>")[0]
    for header in ("volume fraction", "specific surface (µm⁻¹)", "percolating fraction",
                   "tortuosity factor τ", "D<sub>eff</sub>/D<sub>0</sub>",
                   "MacMullin number N<sub>M</sub>"):
        assert header in table
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    assert [re.search(r"</span>(\w+)</td>", r).group(1) for r in rows] == ["pore", "cbd", "nmc"]
    # the first number of a row is the volume fraction, exactly the record's
    vf = float(re.search(r'data-v="([^"]+)"', rows[0]).group(1))
    assert vf == rec["fractions"]["fractions"]["pore"]
    assert f"background:{'#56B4E9'}" in rows[0]  # the pore colour, as in every figure
    assert "Computed inside the sample region (box, 42,592 voxels" in s1
    assert "interface area (µm²)" in s1 and "specific interface area (µm⁻¹)" in s1
    assert "median d50 (µm)" in s1 and "particle diameter (number-weighted)" in s1
    # s2 (schema 1): cbd does not percolate along z -> infinite tau, explained below
    s2 = _section(results["page"], "s2")
    assert 'class="inf" data-v="1e308" title="not percolating">∞</td>' in s2
    assert "∞: the phase does not percolate along that axis" in s2


def test_fits_leave_out_flagged_values_and_say_so(results):
    page = results["page"]
    beta, alpha, n = _fit_row(page, "pore")
    # tau = eps**-1.5 on s1 and s2: s3's tau of 173 (failing QC) would bend this
    assert beta == pytest.approx(1.5, abs=1e-12) and alpha == pytest.approx(2.5, abs=1e-12)
    assert n == 6
    left = page.split('id="fig-bruggeman"')[1].split("</table>")[1].split("</table>")[0]
    assert "Left out of the fit (" in left
    row = '<td class="t">{}</td><td class="t">{}</td><td class="t">{}</td>'
    assert row.format("s2", "cbd τ z", "non-percolating") in left
    assert row.format("s3", "all τ values", "fails QC: centre methods disagree") in left
    # comparisons and series leave s3 out too, and say so
    assert page.count("fails QC: centre methods disagree") == 4
    assert "Left out of the comparison (1)" in page


def test_no_flattened_keys_outside_all_numbers(results):
    text = _without_all_numbers(results["page"])
    for rec in results["records"].values():
        for key in flatten_numbers(rec):
            if key.count(".") >= 2:
                assert key not in text, key
    words = re.sub(r"doi:\S+", "", re.sub(r"<[^>]+>", " ", text))
    generic = re.findall(r"\b[a-z_]+\.[a-z_]+\.[a-z_|0-9-]+\b", words)
    assert [k for k in generic if not k.endswith(("zarr", "json", "png", "svg", "ply"))] == []
    # solver statistics are provenance, not science
    science = text.split('id="methods"')[0]
    assert "iterations" not in science and "seconds" not in science
    assert "all numbers" in results["page"].lower()
    assert "fractions.fractions.pore" in results["page"]  # ... which are all there, collapsed


def test_every_plot_has_title_and_axes_with_units(results):
    page = results["page"]
    plots = re.findall(r'<figure data-kind="plot"><img id="([^"]+)" src="data:image/svg\+xml;'
                       r'base64,([^"]+)"', page)
    names = {p[0] for p in plots}
    assert {"fig-bruggeman", "fig-series", "fig-fractions", "fig-s1-sizes", "fig-s1-center",
            "fig-s1-frc", "fig-s1-confidence", "fig-s1-histogram"} <= names
    for name, data in plots:
        assert svg_problems(base64.b64decode(data)) == [], name
    series = base64.b64decode(dict(plots)["fig-series"]).decode()
    for words in ("cycle number", "volume fraction", "tortuosity factor (mean of axes)",
                  "median local thickness (µm)", "sample A"):
        assert words in series, words
    assert "sample B" not in series  # its only scan, s3, fails QC
    # images (orthoslices, 3-D render) are embedded too, with links to their files
    assert '<figure data-kind="image"><img id="fig-s1-orthoslices_labels"' in page
    assert 'href="s1/figures/orthoslices_labels.svg">SVG</a>' in page


def test_findings_in_words_with_what_to_do(results):
    page = results["page"]
    s3 = _section(page, "s3")
    assert '<span class="sev-fail">fails QC</span>' in s3
    assert "rotation-centre methods disagree by 6.3 px" in s3 and "preprocess.center" in s3
    s1 = _section(page, "s1")
    assert "2 slices have more than 20 % low-confidence voxels" in s1
    assert "label slices z = 7, 15 next and retrain" in s1
    assert "spatial resolution 0.256 µm" in s1
    assert "mean IoU 0.91" in s1


def test_methods_cite_what_was_used(results):
    page = results["page"]
    methods = page.split('<section id="methods"')[1].split("</section>")[0]
    for text in ("gridrec", "Shepp-Logan", "2-D U-Net", "Otsu", "Paganin", "Vo, N. T., "
                 "Drakopoulos", "Ronneberger", "Lorensen", "Hildebrand", "Bruggeman, D. A. G.",
                 "Cooper, S. J.", "Kench", "δ/β = 100", "numpy", "0123456789abcdef"):
        assert text in methods, text
    for unused in ("Titarenko", "Münch", "Breiman", "Gilbert"):
        assert unused not in methods
    # three different settings -> three paragraphs; every setting in the table
    assert methods.count("<p><b>") == 3
    assert "<td class=\"t\">recon</td><td class=\"t\">filter</td>" in methods


def test_provenance_and_files(results):
    page, root = results["page"], results["root"]
    prov = page.split('<section id="provenance"')[1]
    assert "Tortuosity solver" in prov and "iterations" in prov
    assert sha256(results["config"]) in prov and "0123456789abcdef" in prov
    row = re.search(r'<td class="t">s1</td><td class="t">segment_chunk</td><td data-v="([^"]+)"',
                    prov)
    assert float(row.group(1)) == 70.0
    s1 = _section(page, "s1")
    assert "napari --plugin napari-ome-zarr s1/scan.ome.zarr" in s1
    assert "s1/meshes/nmc.ply" in s1
    uri = re.search(r'download="s1_morphology.json" href="data:application/json;base64,([^"]+)"',
                    s1).group(1)
    stored = json.loads((root / "s1" / "morphology.json").read_text())
    assert json.loads(base64.b64decode(uri)) == stored


def test_report_is_self_contained(results):
    page = results["page"]
    assert all(u.startswith("data:") for u in re.findall(r'\ssrc="([^"]*)"', page))
    hrefs = re.findall(r'\shref="([^"]*)"', page)
    assert not [h for h in hrefs if re.match(r"(https?:)?//", h)]
    local = [h for h in hrefs if not h.startswith(("data:", "#"))]
    assert local and all((results["root"] / h).is_file() for h in local)
    assert "http://" not in page.replace("http://www.w3.org", "")
    # each scan's 3-D view stays within its budget
    for data in re.findall(r'<script type="application/json" id="mesh-[^"]+">(.*?)</script>',
                           page, re.S):
        assert len(data) <= 1.5 * 2**20


def test_viewer_budget_and_bad_inputs(results, tmp_path):
    scans = results["scans"]
    small = build_report(tmp_path / "r.html", scans[:2], viewer_budget=1000)
    assert small.read_text().count("exceeds the budget and is not embedded") == 2
    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="m.json: not a readable JSON"):
        build_report(tmp_path / "r.html", [ScanInputs("x", bad)])
    bad.write_text('{"volume_fraction": {"pore": 0.4}}')
    with pytest.raises(InputError, match="schema None is not a morphology record"):
        build_report(tmp_path / "r.html", [ScanInputs("x", bad)])
    with pytest.raises(InputError, match="scan ids repeat: \\['s1'\\]"):
        build_report(tmp_path / "r.html", [scans[0], scans[0]])
    with pytest.raises(ConfigError, match="report.series: unknown key"):
        build_report(tmp_path / "r.html", scans[:1], series={"by": "sample"})
    with pytest.raises(ConfigError, match="report.qc: unknown key"):
        build_report(tmp_path / "r.html", scans[:1], qc={"nope": 1})
    # missing files leave their part out; nothing else breaks
    lone = build_report(tmp_path / "r.html", [ScanInputs("y", tmp_path / "none.json",
                                                         center_json=tmp_path / "no.json")])
    assert "no morphology record for this scan" in lone.read_text()


def test_methods_text_numbers_references_in_order():
    settings = {"preprocess": {"rings": "fw", "paganin": {"energy_kev": 25, "distance_m": 0.2,
                                                          "delta_beta": 50}, "center": 512.5},
                "recon": {"algorithm": "sirt"}, "segment": {"method": "rf"}}
    m = methods_text([("a", settings, None, None)], versions={"numpy": "2.4"})
    ((ids, text),) = m.paragraphs
    assert ids == ["a"]
    assert "wavelet-Fourier filtering [1]" in text
    assert "Paganin's single-distance method [2]" in text
    assert "set to 512.5 px" in text and "SIRT [3]" in text and "random-forest" in text
    assert [r.key for r in m.references] == ["Münch 2009", "Paganin 2002", "Gilbert 1972",
                                             "Breiman 2001"]
    assert m.closing == "Software: numpy 2.4."


def test_benchmarks_summed_per_rule(results):
    bench = sum_benchmarks(results["scans"][0].benchmarks[:3])
    assert bench["recon"] == {"s": 12.5, "max_rss_mb": 512.5, "cpu_time_s": 11.5, "jobs": 1}
    assert bench["segment_chunk"]["s"] == 70.0 and bench["segment_chunk"]["jobs"] == 2


def test_tortuosity_reader_both_schemas(results):
    v1, v2 = results["records"]["s2"], results["records"]["s1"]
    assert "iterations" in v1["tortuosity"]["pore"]["z"] and "solver" in v2
    t1, t2 = tortuosities(v1), tortuosities(v2)
    assert t1["cbd"]["z"].problem == "non-percolating" and t1["pore"]["z"].usable
    assert t2["pore"]["x"].converged is True and t2["pore"]["x"].method == "whole"


def test_report_and_view_cli(results, tmp_path, capsys):
    root = results["root"]
    out = tmp_path / "again.html"
    assert main(["report", str(root), "--out", str(out), "--group-by", "sample",
                 "--order-by", "cycle"]) == 0
    page = out.read_text()
    assert page.count('<section class="scan"') == 3
    # without --sheet the rows hold no sample or cycle: the series says why it is empty
    assert page.count("in its scan-sheet row") == 2  # s3 is left out as failing QC
    # with the scan sheet and config, each scan's settings reach the methods
    (tmp_path / "scans.tsv").write_text(
        "scan_id\tpath\trecon.filter\ns1\traw/s1.h5\tshepp\ns2\traw/s2.h5\thann\n"
        "s3\traw/s3.h5\t\n")
    (tmp_path / "config.yaml").write_text(f"scans: {tmp_path / 'scans.tsv'}\n")
    assert main(["report", str(root), "--out", str(out), "--sheet", str(tmp_path / "scans.tsv"),
                 "--config", str(tmp_path / "config.yaml")]) == 0
    methods = out.read_text().split('<section id="methods"')[1]
    assert "Hann filter" in methods and "Shepp-Logan filter" in methods
    assert main(["view", "s1", "--results", str(root)]) == 0
    text = capsys.readouterr().out
    store = (root / "s1" / "scan.ome.zarr").resolve()
    assert f"napari --plugin napari-ome-zarr {store}" in text
    assert "level 1: shape (12, 24, 24), voxel 0.5 µm" in text
    assert main(["view", "s2", "--results", str(root)]) == 2
    assert "no OME-Zarr for scan 's2'" in capsys.readouterr().err


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        end = time.monotonic() + timeout
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events.pop(i)
        while time.monotonic() < end:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == method:
                return msg
            self.events.append(msg)
        raise TimeoutError(f"no {method} within {timeout} s")

    def evaluate(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")


@pytest.fixture()
def browser(tmp_path):
    """A headless Chromium (software WebGL) with remote debugging; yields a DevTools client."""
    profile = tmp_path / "chromium-profile"
    proc = subprocess.Popen(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--use-angle=swiftshader",  # WebGL without a GPU
            "--enable-unsafe-swiftshader",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--window-size=1400,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        end = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if time.monotonic() > end or proc.poll() is not None:
                pytest.fail("chromium did not start its DevTools endpoint within 30 s")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            pages = [t for t in json.load(r) if t["type"] == "page"]
        client = DevTools(pages[0]["webSocketDebuggerUrl"])
        yield client
        client.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def _problems(events: list[dict]) -> list[str]:
    out = []
    for ev in events:
        method, params = ev.get("method"), ev.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append("console: " + " ".join(str(a.get("value")) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            out.append("exception: " + json.dumps(params["exceptionDetails"])[:300])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            out.append("log: " + params["entry"]["text"])
        elif method == "Network.loadingFailed":
            out.append("load failed: " + params.get("errorText", ""))
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("file:", "data:")):
                out.append("network request: " + url)
    return out


def _screenshot(browser: DevTools, clip: dict | None = None) -> np.ndarray:
    params = {"format": "png"}
    if clip:
        params["clip"] = {**clip, "scale": 1}
    png = base64.b64decode(browser.call("Page.captureScreenshot", **params)["data"])
    return plt.imread(io.BytesIO(png))[..., :3]


@pytest.mark.browser
@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs /usr/bin/chromium (Debian package 'chromium'; make install installs it)",
)
def test_report_renders_in_chromium(browser, results):
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.call(f"{domain}.enable")
    browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000,
                 deviceScaleFactor=1, mobile=False)
    browser.call("Page.navigate", url=results["report"].as_uri())
    browser.wait_for("Page.loadEventFired")
    images = browser.evaluate(
        "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])"
    )
    assert len(images) >= 12
    broken = [alt for complete, width, alt in images if not complete or width == 0]
    assert not broken, f"images that did not load: {broken}"
    # what a reader sees outside the collapsed "all numbers": no dotted key paths
    visible = browser.evaluate(
        "(() => { const b = document.body.cloneNode(true);"
        " b.querySelectorAll('details.allnum, script').forEach(e => e.remove());"
        " return b.innerText; })()"
    )
    assert "volume fraction" in visible and "tortuosity factor τ" in visible
    assert not re.findall(r"\b(fractions|surface|tortuosity|connectivity|sizes)\.\w+", visible)
    # sorting: click the "pore volume fraction" header twice -> ascending, then descending
    col = browser.evaluate(
        "Array.from(document.querySelectorAll('#scans th')).findIndex(h => h.textContent"
        ".trim() === 'pore volume fraction')"
    )
    assert col >= 0
    read = (
        "Array.from(document.querySelectorAll('#scans tbody tr'))"
        f".map(r => Number(r.cells[{col}].dataset.v))"
    )
    click = f"document.querySelectorAll('#scans th')[{col}].click()"
    browser.evaluate(click)
    ascending = browser.evaluate(read)
    browser.evaluate(click)
    descending = browser.evaluate(read)
    assert len(ascending) == 3
    assert ascending == sorted(ascending) and descending == sorted(ascending, reverse=True)
    # the 3-D viewer of s1: scrolled into view it draws its phases with WebGL
    browser.evaluate("document.querySelector('.viewer[data-mesh=\"mesh-s1\"]')"
                     ".scrollIntoView({block: 'center'})")
    drawn = None
    end = time.monotonic() + 20
    while time.monotonic() < end and not drawn:
        time.sleep(0.2)
        drawn = browser.evaluate("document.querySelector('.viewer[data-mesh=\"mesh-s1\"]')"
                                 ".dataset.drawn")
    assert drawn and int(float(drawn)) > 1000
    rect = browser.evaluate(
        "(() => { const r = document.querySelector('.viewer[data-mesh=\"mesh-s1\"] canvas')"
        ".getBoundingClientRect(); return {x: r.x + scrollX, y: r.y + scrollY, width: r.width,"
        " height: r.height};"
        " })()"
    )
    pixels = _screenshot(browser, rect)
    assert pixels.std() > 0.05  # not blank
    hue = pixels / pixels.max(axis=-1, keepdims=True).clip(1e-3)
    nmc = np.array(phase_color("nmc"))
    assert (np.abs(hue - nmc / nmc.max()).sum(axis=-1) < 0.15).sum() > 500  # nmc, shaded
    # unticking nmc draws fewer triangles
    browser.evaluate("document.querySelector('.viewer[data-mesh=\"mesh-s1\"] "
                     "input[data-phase=\"nmc\"]').click()")
    time.sleep(0.5)
    fewer = browser.evaluate("document.querySelector('.viewer[data-mesh=\"mesh-s1\"]')"
                             ".dataset.drawn")
    assert 0 < int(float(fewer)) < int(float(drawn))
    time.sleep(0.3)  # let late console messages arrive
    browser.call("Runtime.evaluate", expression="1")
    assert _problems(browser.events) == []
    page = _screenshot(browser)
    assert len(np.unique((page * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50
