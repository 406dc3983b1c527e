"""The per-stage environments (workflow/envs/*.yaml) are complete, pinned and up to date.

For each environment file a fresh virtualenv gets exactly the file's pip lines, installed with
``--no-deps`` (so nothing but the file's own pins provides a dependency), and tomosnake as a
wheel of this checkout with that stage's extra. In it, the workflow steps of the rules that
use the file (read from workflow/rules/*.smk) run on a tiny simulated scan whose inputs the
project's environment made, and must give the numbers the project's environment gives. An
environment that misses a package fails here with the ImportError of the step that needs it.

Virtualenvs are built with uv (its download cache, ``~/.cache/uv`` or ``UV_CACHE_DIR``, keeps
rebuilds fast). The files' ``--extra-index-url`` lines are dropped (the PyTorch index is out
of reach here); torch's CPU build comes from pip's local wheels (``PIP_FIND_LINKS``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tomosnake import envpins
from tomosnake.config import defaults
from tomosnake.threads import use_threads

REPO = Path(__file__).resolve().parents[1]
ENVS = REPO / "workflow" / "envs"
RULES = REPO / "workflow" / "rules"
LOCK = REPO / "requirements" / "lock.txt"
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
#: the environments' virtualenvs, kept between runs
VENVS = REPO / ".tmp" / "test-envs"

#: the tiny simulated scan (the simulator's config keys); 12 rows: one slab per stage
SIM = {"shape": [12, 40, 40], "angles": 64, "range": 180, "center_offset": 2.2, "seed": 1}
LABELS0 = "a/scan.ome.zarr/labels/phases/0"

#: Helpers of the steps below: each checks an output of the step against the reference run's
#: (``ref``) when it runs elsewhere (``out``).
HELPERS = r'''
import json, shutil
from pathlib import Path
import h5py, numpy as np, zarr
from tomosnake import pipeline

def _compare():
    return ref.resolve() != out.resolve()

def same_array(rel, rtol=1e-5, mismatch=0.0):
    """The zarr array (or HDF5 'file.h5/dataset') at out/rel equals ref/rel: floats within
    rtol, other dtypes in all but a fraction ``mismatch`` of the voxels."""
    if not _compare():
        return
    def load(root):
        if ".h5/" in rel:
            name, key = rel.split(".h5/")
            with h5py.File(root / f"{name}.h5", "r") as f:
                return f[key][...]
        return zarr.open_array(str(root / rel), mode="r")[...]
    a, b = load(out), load(ref)
    assert a.shape == b.shape and a.dtype == b.dtype, (rel, a.shape, b.shape, a.dtype, b.dtype)
    if a.dtype.kind == "f":
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * float(np.abs(b).max()),
                                   err_msg=rel)
    else:
        assert np.mean(a != b) <= mismatch, (rel, float(np.mean(a != b)))

def same_json(rel, *keys):
    """These top-level entries of the JSON at out/rel equal ref/rel's."""
    if not _compare():
        return
    a, b = (json.loads((root / rel).read_text()) for root in (out, ref))
    for k in keys:  # the same versions on the same machine: the same numbers
        assert a[k] == b[k], (rel, k, a[k], b[k])

def same_names(rel):
    """The folder out/rel holds the files ref/rel holds (none empty)."""
    if not _compare():
        return
    names = [sorted(p.name for p in (root / rel).iterdir()) for root in (out, ref)]
    assert names[0] == names[1], (rel, names)
    assert all((out / rel / n).stat().st_size > 0 for n in names[0]), rel
'''

#: script of workflow/scripts -> the step it runs, as the script calls pipeline.py (inputs
#: from ``ref``, outputs to ``out``), then checks of its outputs. Keys in workflow order.
STEPS = {
    "simulate": """
from tomosnake.synth import make_spec, write_simulated_scan
write_simulated_scan(out / "sim/a.h5", make_spec(**SIM), fmt="dxchange")
same_array("sim/a.h5/exchange/data")
same_array("sim/a_truth.zarr/labels")
""",
    "flats": """
pipeline.flats(ref / "sim/a.h5", out / "a/flats.zarr")
same_array("a/flats.zarr/flat0")
same_array("a/flats.zarr/dark")
""",
    "ingest": """
from tomosnake.io import open_scan
from tomosnake.layout import plan
with open_scan(ref / "sim/a.h5") as reader:
    i = reader.info
for b in range(len(plan(i.n_proj, i.n_rows, i.n_cols).blocks)):
    pipeline.ingest(ref / "sim/a.h5", ref / "a/flats.zarr", out / f"a/prep.parts/{b}.zarr", b)
    same_array(f"a/prep.parts/{b}.zarr")
""",
    "prep_merge": """
parts = sorted((ref / "a/prep.parts").glob("*.zarr"), key=lambda p: int(p.stem))
pipeline.prep_merge(parts, out / "a/prep.zarr", [ref / "sim/a.h5"])
same_array("a/prep.zarr/proj")
""",
    "center": """
pipeline.center(ref / "a/prep.zarr", out / "a/center.json", out / "a/center_sweep.tif")
same_json("a/center.json", "center", "methods", "fit")
""",
    "recon_slab": """
pipeline.recon_slab(ref / "a/prep.zarr", ref / "a/center.json", out / "a/recon.parts/0.zarr",
                    0, slab_rows=SIM["shape"][0], crop=SIM["shape"][2])
same_array("a/recon.parts/0.zarr")
""",
    "recon_merge": """
pipeline.recon_merge([ref / "a/recon.parts/0.zarr"], out / "a/scan.ome.zarr/0",
                     ref / "a/center.json")
same_array("a/scan.ome.zarr/0")
""",
    "train_segmenter": """
for method in ("rf", "cnn"):
    pipeline.train_segmenter(out / f"models/segment_{method}.pt",
                             simulated=[(ref / "a/scan.ome.zarr/0", ref / "sim/a_truth.zarr")],
                             train_slices=[2, 6, 10], method=method, epochs=1, patch=32,
                             width=8)
    assert (out / f"models/segment_{method}.pt").stat().st_size > 0
""",
    "segment_slab": """
for method in ("otsu", "rf", "cnn"):
    model = None if method == "otsu" else ref / f"models/segment_{method}.pt"
    pipeline.segment_slab(ref / "a/scan.ome.zarr/0", out / f"a/labels.{method}/0.zarr", 0,
                          slab_rows=SIM["shape"][0], method=method, model=model)
    same_array(f"a/labels.{method}/0.zarr", mismatch=1e-3)
""",
    "segment_merge": """
pipeline.segment_merge([ref / "a/labels.rf/0.zarr"], out / LABELS0, out / "a/segment_qc.json",
                       [ref / "a/scan.ome.zarr/0", ref / "models/segment_rf.pt"])
same_array(LABELS0)
""",
    "truth_check": """
pipeline.truth_check(ref / "a/center.json", ref / LABELS0, ref / "sim/a_truth.zarr",
                     out / "a/truth_check.json")
same_json("a/truth_check.json", "center_found", "iou")
""",
    "morphology": """
pipeline.morphology(ref / LABELS0, out / "a/morphology.json", **MORPH)
same_json("a/morphology.json", "fractions", "tortuosity", "sizes")
""",
    "summary": """
pipeline.summary(["a"], [ref / "a/morphology.json"], {"a": ref / "a/truth_check.json"},
                 out / "summary.csv")
if _compare():
    assert (out / "summary.csv").read_text() == (ref / "summary.csv").read_text()
""",
    "pyramid_level": """
pipeline.pyramid_level(ref / "a/scan.ome.zarr/0", out / "a/scan.ome.zarr/1")
pipeline.pyramid_level(ref / LABELS0, out / "a/scan.ome.zarr/labels/phases/1", labels=True)
same_array("a/scan.ome.zarr/1")
same_array("a/scan.ome.zarr/labels/phases/1")
""",
    "ome_metadata": """
for level in ("0", "1", "labels/phases/0", "labels/phases/1"):  # the documents go beside them
    if not (out / "a/scan.ome.zarr" / level).exists():
        shutil.copytree(ref / "a/scan.ome.zarr" / level, out / "a/scan.ome.zarr" / level)
pipeline.ome_metadata(out / "a/scan.ome.zarr", 2)
same_json("a/scan.ome.zarr/zarr.json", "attributes")
""",
    "figures": """
pipeline.figures(ref / "a/scan.ome.zarr/0", ref / LABELS0, out / "a/figures",
                 ref / "a/center.json", ref / "a/center_sweep.tif", ref / "a/morphology.json",
                 ref / "a/segment_qc.json")
same_names("a/figures")
""",
    "meshes": """
pipeline.meshes(ref / LABELS0, out / "a/meshes")
same_names("a/meshes")
""",
    "report": """
kinds = {"morphology": "a/morphology.json", "center": "a/center.json",
         "segment_qc": "a/segment_qc.json", "figures": "a/figures", "meshes": "a/meshes",
         "ome": "a/scan.ome.zarr/zarr.json", "truth": "a/truth_check.json"}
pipeline.report(out / "report.html", ["a"], {k: [ref / v] for k, v in kinds.items()}, ["a"],
                {"a": {"scan_id": "a", "path": "sim/a.h5", "format": "dxchange"}},
                {"a": {"recon": {"crop": SIM["shape"][2]}}}, ref / "summary.csv",
                ref / "config.yaml", ref / "scans.tsv", ref / "benchmarks", REPORT)
assert "<html" in (out / "report.html").read_text()[:2000].lower()
""",
}

#: what an environment's job process does: import the library as installed, then run the
#: steps one by one through the scripts' glue (tomosnake.smk.run_script, one thread)
DRIVER = r'''
import json, sys, time
from pathlib import Path
spec = json.loads(Path(sys.argv[1]).read_text())
import tomosnake
from tomosnake.smk import run_script
print("tomosnake imported from", tomosnake.__file__, flush=True)
ns = {"ref": Path(spec["ref"]), "out": Path(spec["out"]), **spec["data"]}
exec(spec["helpers"], ns)

class Job:
    def __init__(self, rule, log):
        self.rule, self.log, self.threads, self.wildcards = rule, [log], 1, {}

Path(spec["out"], "logs").mkdir(parents=True, exist_ok=True)
for name, code in spec["steps"]:
    start = time.perf_counter()
    run_script(Job(name, str(Path(spec["out"], "logs", name + ".log"))),
               lambda: exec(code, ns))
    print(f"step {name}: {time.perf_counter() - start:.1f} s", flush=True)
print("all steps done", flush=True)
'''


def _data() -> dict:
    return {"SIM": SIM, "LABELS0": LABELS0, "MORPH": defaults("morph"),
            "REPORT": defaults("report")}


# ---------------------------------------------------------------- reading the files -----


def rule_scripts() -> dict[str, set[str]]:
    """``{env file name: script stems of the rules that name it}`` from workflow/rules."""
    head = re.compile(r"^(?:use rule (\w+) as (\w+)|rule (\w+))", re.M)
    found: dict[str, tuple[str | None, str | None]] = {}
    for smk in sorted(RULES.glob("*.smk")):
        text = smk.read_text()
        heads = list(head.finditer(text))
        if not heads:
            continue
        for m, nxt in zip(heads, heads[1:] + [None], strict=True):
            body = text[m.end(): nxt.start() if nxt else len(text)]
            conda = re.search(r'conda:\s*\n\s*(?:\w+\()?"([^"]+)"', body)  # or f("..")
            script = re.search(r'script:\s*\n\s*"([^"]+)"', body)
            base = found.get(m[1], (None, None)) if m[1] else (None, None)
            found[m[2] or m[3]] = (Path(conda[1]).name if conda else base[0],
                                   Path(script[1]).stem if script else base[1])
    envs: dict[str, set[str]] = {}
    for env, script in found.values():
        if env and script:
            envs.setdefault(env, set()).add(script)
    return envs


def pip_lines(env_file: Path) -> list[str]:
    """The pip section of a conda environment file, one requirement or option per item."""
    deps = yaml.safe_load(env_file.read_text())["dependencies"]
    sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(sections) == 1, f"{env_file.name}: expected one pip section"
    return [str(x) for x in sections[0]]


def project_line(env_file: Path) -> tuple[list[str], str]:
    """(extras, version) of the file's ``tomosnake[EXTRAS]==VERSION`` line."""
    m = [re.fullmatch(r"tomosnake\[([^\]]+)\]==(\S+)", x) for x in pip_lines(env_file)]
    m = [x for x in m if x]
    assert len(m) == 1, f"{env_file.name}: expected one tomosnake[EXTRAS]==VERSION line"
    return m[0][1].split(","), m[0][2]


def pins_block(env_file: Path) -> list[str]:
    lines = [x.strip() for x in env_file.read_text().splitlines()]
    return lines[lines.index(envpins.BEGIN) + 1: lines.index(envpins.END)]


ENV_FILES = sorted(ENVS.glob("*.yaml"))
GPU_FILES = [f for f in ENV_FILES if f.stem.endswith("-gpu")]
CPU_FILES = [f for f in ENV_FILES if f not in GPU_FILES]


def steps_of(env_file: Path) -> list[str]:
    """Scripts whose steps run in this environment: those of the rules that use it."""
    scripts = rule_scripts().get(env_file.name, set())
    missing = scripts - set(STEPS)
    assert not missing, f"no step in tests/test_envs.py for script(s) {sorted(missing)}"
    return [s for s in STEPS if s in scripts]


# ---------------------------------------------------------------- fast checks ----------


def test_every_pip_line_is_an_exact_pin_or_an_index():
    for f in ENV_FILES:
        for line in pip_lines(f):
            assert (line.startswith("--extra-index-url ")
                    or re.fullmatch(r"[A-Za-z0-9._-]+(\[[a-z0-9,_-]+\])?==\S+", line)), \
                f"{f.name}: {line!r} is not pinned exactly"


def test_pins_follow_the_lock_and_pyproject():
    """``make env-pins`` has nothing to change: the files hold the lock's versions of exactly
    what pyproject.toml's extras need."""
    assert envpins.update_envs(LOCK, ENVS, check=True) == [], "run make env-pins"


def test_every_rule_environment_exists_and_gpu_files_extend_their_cpu_file():
    for env in rule_scripts():
        assert (ENVS / env).is_file(), f"a rule names envs/{env}, which does not exist"
    for cpu in CPU_FILES:  # every environment file is used or holds the whole library
        assert cpu.name in rule_scripts() or "all" in project_line(cpu)[0], cpu.name
    whole = [f for f in CPU_FILES if "all" in project_line(f)[0]]
    for f in whole:  # the whole library's environment runs every stage's steps
        for cpu in CPU_FILES:
            assert set(pins_block(cpu)) <= set(pins_block(f)), (f.name, cpu.name)
    for gpu in GPU_FILES:
        cpu = ENVS / gpu.name.replace("-gpu", "")
        assert project_line(gpu) == project_line(cpu)
        assert pins_block(gpu) == pins_block(cpu), f"{gpu.name} and {cpu.name} differ"


def test_envpins_rewrites_a_stale_file(tmp_path):
    """A file with a stale block and version gets the lock's pins; twice changes nothing."""
    text = (ENVS / "morph.yaml").read_text()
    stale = re.sub(r"- edt==\S+", "- edt==0.0.1", text.replace("]==0.1.0", "]==0.0.1"))
    assert stale != text
    (tmp_path / "morph.yaml").write_text(stale)
    assert envpins.main([str(LOCK), str(tmp_path), "--pyproject", str(REPO / "pyproject.toml"),
                         "--check"]) == 1
    assert envpins.update_envs(LOCK, tmp_path, REPO / "pyproject.toml")
    assert (tmp_path / "morph.yaml").read_text() == text
    assert envpins.update_envs(LOCK, tmp_path, REPO / "pyproject.toml") == []


# ---------------------------------------------------------------- building and running --


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """This checkout's tomosnake as a wheel, built from a copy (the checkout stays clean)."""
    src = tmp_path_factory.mktemp("checkout")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).is_file():
            shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "src" / "tomosnake", src / "src" / "tomosnake",
                    ignore=shutil.ignore_patterns("__pycache__"))  # links become copies
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(src)], check=True)
    (whl,) = out.glob("tomosnake-*.whl")
    return whl


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """Every step, run in the project's environment: the inputs of each environment's steps
    and the numbers they must reproduce."""
    ref = tmp_path_factory.mktemp("reference")
    (ref / "config.yaml").write_text(yaml.safe_dump({"scans": "scans.tsv",
                                                     "simulate": {"a": SIM}}))
    (ref / "scans.tsv").write_text("scan_id\tpath\tformat\na\tsim/a.h5\tdxchange\n")
    (ref / "benchmarks").mkdir()
    ns = {"ref": ref, "out": ref, **_data()}
    exec(HELPERS, ns)
    with use_threads(1):
        for code in STEPS.values():
            exec(code, ns)
    return ref


def build_env(env_file: Path, whl: Path) -> Path:
    """A virtualenv holding exactly the pip lines of ``env_file`` (``uv pip sync``: nothing
    else, no dependencies), tomosnake from ``whl``; returns its python. Kept in VENVS between
    runs (synced again each run), so a warm run neither copies packages nor compiles them."""
    python = re.search(r"^\s*- python\s*=\s*(\d+\.\d+)", env_file.read_text(), re.M)[1]
    if f"{sys.version_info[0]}.{sys.version_info[1]}" != python:
        pytest.fail(f"{env_file.name} pins python={python}; run the tests with that Python")
    extras, version = project_line(env_file)
    assert whl.name.startswith(f"tomosnake-{version}-"), f"{env_file.name}: tomosnake=={version}"
    venv = VENVS / env_file.stem
    if not (venv / "bin" / "python").exists():
        subprocess.run([UV, "venv", "-q", "--clear", "--python", sys.executable, str(venv)],
                       check=True)
    reqs = [f"tomosnake[{','.join(extras)}] @ {whl.as_uri()}" if x.startswith("tomosnake[")
            else x for x in pip_lines(env_file) if not x.startswith("--")]
    (venv / "requirements.txt").write_text("\n".join(reqs) + "\n")
    links = [f"--find-links={p}" for p in os.environ.get("PIP_FIND_LINKS", "").split() if p]
    done = subprocess.run([UV, "pip", "sync", "-q", "--python", str(venv / "bin" / "python"),
                           "--reinstall-package", "tomosnake", *links,
                           str(venv / "requirements.txt")], capture_output=True, text=True)
    assert done.returncode == 0, f"{env_file.name}: uv pip sync failed:\n{done.stderr}"
    return venv / "bin" / "python"


def run_steps(python: Path, steps: list[str], ref: Path, out: Path) -> subprocess.CompletedProcess:
    """Run ``steps`` in the environment of ``python``, in a clean folder and process."""
    out.mkdir(parents=True)
    spec = out / "spec.json"
    spec.write_text(json.dumps({"ref": str(ref), "out": str(out), "helpers": HELPERS,
                                "data": _data(), "steps": [(s, STEPS[s]) for s in steps]}))
    (out / "driver.py").write_text(DRIVER)
    # bytecode is written (warm runs import compiled modules); nothing from the checkout
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")}
    return subprocess.run([str(python), str(out / "driver.py"), str(spec)], cwd=out, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.skipif(UV is None, reason="uv is not installed (pip install -e '.[test]')")
@pytest.mark.parametrize("env_file", CPU_FILES, ids=lambda f: f.stem)
def test_environment_runs_its_steps(env_file, wheel, reference, tmp_path):
    steps = steps_of(env_file)
    assert steps, f"{env_file.name}: no rule uses it"
    python = build_env(env_file, wheel)
    done = run_steps(python, steps, reference, tmp_path / "run")
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"{env_file.name}: steps {steps} failed:\n{log[-4000:]}"
    assert f"tomosnake imported from {VENVS / env_file.stem}" in log
    assert "all steps done" in log
    print(env_file.name, *re.findall(r"step \w+: [\d.]+ s", log), sep="\n  ")
