"""The beamtime report: content, numbers, CLI, and a real headless Chromium rendering it.

A results folder is built once: three synthetic scans with known morphology
(tau = eps**-1.5 exactly, so the fitted Bruggeman exponent must be 1.5), one scan
made of the real SegmentPy NMC slices, benchmark files and a provenance record.
The browser test drives Chromium over the DevTools protocol and fails on console
errors, exceptions, failed loads and images that do not decode.
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

import jsonschema
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import tifffile

from tomosnake import morph
from tomosnake.cli import main
from tomosnake.errors import InputError
from tomosnake.io import write_volume
from tomosnake.provenance import collect_provenance, sha256
from tomosnake.viz import build_report, export_meshes, scan_figures, write_ome_zarr
from tomosnake.viz.benchmarks import collect_benchmarks
from tomosnake.viz.morphology import (
    fit_bruggeman,
    size_distributions,
    tortuosities,
    volume_fractions,
)

CHROMIUM = Path("/usr/bin/chromium")
PHASES = {"pore": 0, "cbd": 1, "nmc": 2}
POROSITY = {"s1": 0.3, "s2": 0.4, "s3": 0.5}
BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _synthetic_scan(folder: Path, seed: int, ring: tuple[float, float]) -> None:
    rng = np.random.default_rng(seed)
    shape = (20, 36, 40)
    zz, yy, xx = np.indices(shape)
    labels = np.zeros(shape, np.uint8)
    labels[(rng.random(shape) < 0.3)] = 1
    for _ in range(6):
        c, r = rng.uniform(0, 1, 3) * shape, rng.uniform(4, 8)
        labels[(zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 < r * r] = 2
    recon = np.array([0.1, 0.5, 1.0], np.float32)[labels] + rng.normal(0, 0.05, shape)
    attrs = {
        "voxel_size_um": 0.05,
        "center": 20.5,
        "algorithm": "gridrec",
        "filter": "shepp",
        "preprocess": {"ring_metric_before": ring[0], "ring_metric_after": ring[1]},
    }
    write_volume(folder / "recon.zarr", recon.astype(np.float32), attrs)
    write_volume(folder / "labels.zarr", labels, {"phases": PHASES, "voxel_size_um": 0.05})


def _real_scan(folder: Path, shared_data: Path) -> None:
    src = shared_data / "segmentpy_nmc"
    ids = (1, 100, 200, 300, 400)
    grey = np.stack([tifffile.imread(src / f"{i}.tif")[:200, :240] for i in ids])
    labels = 2 - np.stack([tifffile.imread(src / f"{i}_label.tif")[:200, :240] for i in ids])
    write_volume(folder / "recon.zarr", grey.astype(np.float32), {"source": str(src)})
    write_volume(folder / "labels.zarr", labels.astype(np.uint8), {"phases": PHASES})


def _tau(axis: str, eps: float, tau: float | None, flag: str = "") -> dict:
    return {
        "axis": axis,
        "tau": tau,
        "eps": eps,
        "eps_percolating": eps,
        "d_rel": eps / tau if tau else 0.0,
        "d_eff": eps / tau if tau else 0.0,
        "macmullin": tau / eps if tau else None,
        "percolates": tau is not None,
        "converged": True,
        "iterations": 10,
        "seconds": 0.1,
        "backend": "cpu",
        "flag": flag,
    }


def _morph_record(eps: float, i: int) -> dict:
    """A morphology.json in tomosnake.morph's schema with tau = eps**-1.5 for the pore."""
    dist = {
        "mean_um": 0.2,
        "d10_um": 0.1,
        "d50_um": 0.2,
        "d90_um": 0.3,
        "bin_edges_um": [0.05, 0.15, 0.25, 0.35, 0.45],
        "fraction": [0.1, 0.4, 0.3, 0.2],
    }
    record = {
        "schema": "tomosnake.morphology/1",
        "source": None,
        "shape": [20, 36, 40],
        "voxel_size_um": 0.05,
        "volume_um3": 3.6,
        "phases": PHASES,
        "metrics": ["fractions", "tortuosity", "sizes"],
        "fractions": {
            "fractions": {"pore": eps, "cbd": 0.1, "nmc": 0.9 - eps},
            "voxels": {"pore": 1, "cbd": 1, "nmc": 1},
            "total_voxels": 3,
            "unassigned_fraction": 0.0,
        },
        "tortuosity": {
            "pore": {a: _tau(a, eps, eps**-1.5) for a in "zyx"},
            "cbd": {"z": _tau("z", 0.1, None, "non-percolating")},
        },
        "sizes": {
            "thickness": {"pore": dist},
            "particles": {"nmc": {**dist, "n_particles": 6 + i, "diameters_um": [0.1, 0.2, 0.3]}},
        },
    }
    schema = json.loads((Path(morph.__file__).parent / "morphology.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(record)  # the workflow's real format
    return record


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory, shared_data) -> Path:
    root = tmp_path_factory.mktemp("results")
    rows = []
    for i, (scan, eps) in enumerate(POROSITY.items()):
        folder = root / scan
        _synthetic_scan(folder, i, (0.2, 0.5) if scan == "s3" else (0.8, 0.2))
        record = _morph_record(eps, i)
        (folder / "morphology.json").write_text(json.dumps(record))
        rows.append({"scan_id": scan, **morph.summary_row(record)})
    _real_scan(root / "real_nmc", shared_data)
    (root / "real_nmc" / "morphology.json").write_text(
        json.dumps({"volume_fraction": {"pore": 0.07, "cbd": 0.26, "nmc": 0.67}})
    )
    rows.append({"scan_id": "real_nmc", "vf_pore": 0.07})
    for scan in ("s1", "real_nmc"):
        folder = root / scan
        scan_figures(folder / "recon.zarr", folder / "labels.zarr", folder / "figures", scan)
        export_meshes(folder / "labels.zarr", folder / "meshes")
        write_ome_zarr(folder / "recon.zarr", folder / "labels.zarr", folder / "scan.ome.zarr")
    pd.DataFrame(rows).to_csv(root / "summary.csv", index=False)
    for rule, target, seconds in [
        ("recon", "s1", 12.5),
        ("segment_chunk", "s1_0", 30.0),
        ("segment_chunk", "s1_1", 40.0),
        ("report", "all", 3.0),
    ]:
        path = root / "benchmarks" / rule / f"{target}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            BENCH_HEADER + f"{seconds}\t0:00:{int(seconds):02d}\t512.5\t900\t400\t"
            f"410\t1.0\t2.0\t95.0\t{seconds - 1}\n"
        )
    # the provenance record as the workflow writes it, with a known commit
    inputs = tmp_path_factory.mktemp("inputs")
    (inputs / "config.yaml").write_text("scans: scans.tsv\n")
    (inputs / "scans.tsv").write_text("scan_id\tpath\ns1\ta.h5\n")
    prov = collect_provenance(inputs / "config.yaml", inputs / "scans.tsv", str(root))
    prov["git_commit"] = "0123456789abcdef"
    (root / "provenance.json").write_text(json.dumps(prov))
    return root


@pytest.fixture(scope="module")
def report_path(results_dir) -> Path:
    return build_report(results_dir, results_dir / "report.html")


def test_report_tables_and_numbers(report_path, results_dir):
    page = report_path.read_text()
    rows = re.search(r'<table class="sortable" id="scans">.*?</table>', page, re.S).group(0)
    assert rows.count("<tr>") == 1 + 4  # header + 4 scans
    # exponent fitted from tau = eps**-1.5, and Bruggeman's alpha = 1 + beta
    fit = re.search(
        r'<td class="t">pore</td><td data-v="([0-9.e+-]+)">.*?data-v="([0-9.e+-]+)"', page
    )
    assert float(fit.group(1)) == pytest.approx(1.5, rel=1e-9)
    assert float(fit.group(2)) == pytest.approx(2.5, rel=1e-9)
    assert "tortuosity cbd z: non-percolating" in page
    assert "ring metric rose in preprocessing (0.2 -&gt; 0.5)" in page  # s3 flagged
    assert "missing figures" in page  # s2/s3 have no figures
    assert "low contrast pore/cbd" in page  # the real slices: pore and CBD overlap in grey
    config_hash = sha256(results_dir.parent / "inputs0" / "config.yaml")
    for text in (config_hash, "0123456789abcdef", "scikit-image", "config.yaml"):
        assert text in page
    assert "napari --plugin napari-ome-zarr s1/scan.ome.zarr" in page
    assert "s1/meshes/nmc.ply" in page


def test_report_is_self_contained(report_path):
    page = report_path.read_text()
    urls = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert urls and all(u.startswith(("data:", "#")) for u in urls)
    assert "http://" not in page and "https://" not in page
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 2 * 6 + 3  # 6 figures for 2 scans + 3 across-scan plots
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")


def test_benchmarks_summed_per_scan(results_dir):
    bench = collect_benchmarks(results_dir, ["s1", "s2"])
    assert bench["s1"]["recon"] == {"s": 12.5, "max_rss_mb": 512.5, "cpu_time_s": 11.5, "jobs": 1}
    assert bench["s1"]["segment_chunk"]["s"] == 70.0
    assert bench["s1"]["segment_chunk"]["jobs"] == 2
    assert bench["all"]["report"]["s"] == 3.0


def test_morphology_helpers():
    eps = np.array([0.2, 0.35, 0.6])
    assert fit_bruggeman(eps, eps**-1.8) == pytest.approx(1.8)
    assert fit_bruggeman(np.array([1.5]), np.array([2.0])) is None
    assert tortuosities({"tortuosity": {"pore": 2.0, "nmc": {"x": {"tau": 3.0}}}}) == {
        "pore": {"": 2.0},
        "nmc": {"x": 3.0},
    }
    curves = size_distributions({"psd": {"nmc": {"edges_um": [0, 1, 2], "counts": [5, 7]}}})
    ((key, (x, y, xname, yname)),) = curves.items()
    assert key == "psd.nmc" and list(x) == [0.5, 1.5] and list(y) == [5, 7]
    assert (xname, yname) == ("edges_um (bin centres)", "counts")
    # a null tau (non-percolating) is no point to fit; both fraction layouts are read
    assert tortuosities({"tortuosity": {"cbd": {"z": {"tau": None, "flag": "x"}}}}) == {}
    assert volume_fractions({"fractions": {"fractions": {"pore": 0.3}}}) == {"pore": 0.3}
    assert volume_fractions({"volume_fraction": {"pore": 0.4}}) == {"pore": 0.4}


def test_bad_report_inputs(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "morphology.json").write_text("{not json")
    with pytest.raises(InputError, match="morphology.json: not a readable JSON"):
        build_report(tmp_path, tmp_path / "r.html")
    (tmp_path / "a" / "morphology.json").write_text("{}")
    (tmp_path / "summary.csv").write_text("scan,x\na,1\n")
    with pytest.raises(InputError, match="no 'scan_id' column"):
        build_report(tmp_path, tmp_path / "r.html")
    with pytest.raises(InputError, match="does not exist"):
        build_report(tmp_path / "nope", tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_report_and_view_cli(results_dir, tmp_path, capsys):
    out = tmp_path / "again.html"
    assert main(["report", str(results_dir), "--out", str(out)]) == 0
    assert out.stat().st_size > 100_000
    assert main(["view", "s1", "--results", str(results_dir)]) == 0
    text = capsys.readouterr().out
    store = (results_dir / "s1" / "scan.ome.zarr").resolve()
    assert f"napari --plugin napari-ome-zarr {store}" in text
    assert "level 1: shape (10, 18, 20), voxel 0.1 µm" in text
    assert "viewer.open(" in text and "labels: pore, cbd, nmc" in text
    assert main(["view", "s2", "--results", str(results_dir)]) == 2
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
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")


@pytest.fixture()
def browser(tmp_path):
    """A headless Chromium with remote debugging; yields a DevTools client of its page."""
    profile = tmp_path / "chromium-profile"
    proc = subprocess.Popen(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--window-size=1280,1600",
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
    return out


@pytest.mark.browser
@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs /usr/bin/chromium (Debian package 'chromium'; make install installs it)",
)
def test_report_renders_in_chromium(browser, report_path, tmp_path):
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.call(f"{domain}.enable")
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        width=1280,
        height=1600,
        deviceScaleFactor=1,
        mobile=False,
    )
    browser.call("Page.navigate", url=report_path.as_uri())
    browser.wait_for("Page.loadEventFired")
    images = browser.evaluate(
        "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])"
    )
    assert len(images) >= 10
    broken = [alt for complete, width, alt in images if not complete or width == 0]
    assert not broken, f"images that did not load: {broken}"
    # external resources: none at all (self-contained page)
    external = browser.evaluate(
        "Array.from(document.querySelectorAll('[src],[href]'))"
        ".map(e => e.getAttribute('src') || e.getAttribute('href'))"
        ".filter(u => !(u.startsWith('data:') || u.startsWith('#')))"
    )
    assert external == []
    # sorting: click the "vf_pore" header twice -> ascending then descending order
    col = browser.evaluate(
        "Array.from(document.querySelectorAll('#scans th')).findIndex(h => h.textContent"
        ".trim() === 'vf_pore')"
    )
    assert col >= 0
    read = (
        "Array.from(document.querySelectorAll('#scans tbody tr'))"
        f".map(r => r.cells[{col}].dataset.v)"
        ".map(v => v === undefined ? null : Number(v))"
    )
    click = f"document.querySelectorAll('#scans th')[{col}].click()"
    browser.evaluate(click)
    ascending = [v for v in browser.evaluate(read) if v is not None]
    browser.evaluate(click)
    descending = [v for v in browser.evaluate(read) if v is not None]
    assert len(ascending) >= 3
    assert ascending == sorted(ascending) and descending == sorted(ascending, reverse=True)
    time.sleep(0.3)  # let late console messages arrive
    browser.call("Runtime.evaluate", expression="1")
    assert _problems(browser.events) == []

    shot = browser.call("Page.captureScreenshot", format="png")["data"]
    png = base64.b64decode(shot)
    (report_path.parent / "report_screenshot.png").write_bytes(png)
    pixels = plt.imread(io.BytesIO(png))[..., :3]
    assert pixels.shape[:2] == (1600, 1280)
    assert pixels.std() > 0.1  # not a blank page
    assert len(np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50
