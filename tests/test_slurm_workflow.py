"""The workflow on a real (single-node) SLURM cluster through profiles/slurm (+ slurm-gpu).

tests/slurm_cluster.sh starts the cluster (partitions ``cpu`` and ``gpu``; the node advertises
one GPU generic resource of type ``demo``). What ran where, with what, is read back from SLURM
itself: ``scontrol show job`` (MinJobAge=600 keeps finished jobs there; it names the rule in the
job comment the executor sets) and the job-completion log written by ``jobcomp/filetxt``.

One tiny simulated scan; four runs go side by side to keep the file to a few minutes:
  local      profiles/local, the reference results
  cpu        profiles/slurm, the whole workflow
  gpu        profiles/slurm + the slurm-gpu overlay up to the labels: first with a
             reconstruction job cancelled by scancel while it runs (Snakemake must not take
             anything of it as done), then rerun.
  killed     profiles/slurm up to the reconstruction, whose job's processes are SIGKILLed on
             the node while it runs (as the OOM killer would): nothing of it may be left.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yte
import zarr

from tomosnake.io import open_volume

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "tests" / "slurm_cluster.sh"
STATE = Path(os.environ.get("TOMOSNAKE_SLURM_STATE", "/tmp/tomosnake-slurm"))
SCAN = "tiny"
MAX_MEM_MB = 6000  # node cap handed to the profiles: some requests hit it, some stay below
GPU_MODEL = "demo"  # the gres type slurm_cluster.sh gives the node's GPU
GPU_RULES = {"recon_slab", "segment_slab", "train_segmenter"}
LABELS = f"results/{SCAN}/scan.ome.zarr/labels/phases/0"
VOLUME = f"results/{SCAN}/scan.ome.zarr/0"
RUN_LIMIT_S = 600
#: what each run passes as --profile
PROFILES = {"local": ["local"], "slurm": ["slurm"], "slurm-gpu": ["slurm", "slurm-gpu"]}

CONFIG = f"""\
scans: config/scans.tsv
simulate:
  {SCAN}: {{shape: [16, 48, 48], angles: 91, range: 180, center_offset: 2.2, seed: 3}}
layout:
  slab_rows: 8
  keep: [prep]
segment:
  method: otsu
"""
SCAN_SHEET = f"scan_id\tpath\tformat\trecon.crop\n{SCAN}\tresources/sim/{SCAN}.h5\tdxchange\t48\n"


@pytest.fixture(scope="session")
def slurm_cluster() -> Path:
    """The local cluster, started for this session (and stopped again if we started it)."""
    was_up = subprocess.run([CLUSTER, "status"], capture_output=True).returncode == 0
    subprocess.run([CLUSTER, "start"], check=True, timeout=300)
    yield STATE
    if not was_up:
        subprocess.run([CLUSTER, "stop"], check=False, timeout=120)


def cluster_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "TOMOSNAKE_SLURM_", "SNAKEMAKE_"))}
    env.update(
        TOMOSNAKE_SLURM_MAX_CPUS=str(os.cpu_count() or 1),
        TOMOSNAKE_SLURM_MAX_MEM_MB=str(MAX_MEM_MB),
        TOMOSNAKE_SLURM_GPU_MODEL=GPU_MODEL,
    )
    return env


def profile(name: str) -> dict:
    """A run's profiles as Snakemake reads them under cluster_env(): later ones override
    earlier ones key by key."""
    saved = dict(os.environ)
    merged: dict = {}
    try:
        os.environ.clear()
        os.environ.update(cluster_env())
        for part in PROFILES[name]:
            with open(REPO / "profiles" / part / "config.yaml") as fh:
                merged.update(yte.process_yaml(fh, require_use_yte=True))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return merged


def workdir(path: Path) -> Path:
    (path / "config").mkdir(parents=True)
    (path / "config" / "config.yaml").write_text(CONFIG)
    (path / "config" / "scans.tsv").write_text(SCAN_SHEET)
    return path


def snakemake(work: Path, prof: str, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"),
           *[a for p in PROFILES[prof] for a in ("--profile", str(REPO / "profiles" / p))],
           *args]
    if prof != "local":
        # poll SLURM every few seconds instead of the profile's 20 s: the jobs here are tiny
        cmd += ["--slurm-init-seconds-before-status-checks", "5"]
    log = work / f"snakemake.{time.monotonic_ns()}.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=work, env=cluster_env(), stdout=fh,
                                stderr=subprocess.STDOUT, text=True)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen, timeout: float = RUN_LIMIT_S) -> tuple[int, str]:
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    return rc, proc.log.read_text()


def run_id(log: str) -> str:
    m = re.search(r"SLURM run ID: (\S+)", log)
    assert m, log[-3000:]
    return m.group(1)


def keyvals(text: str) -> dict[str, str]:
    return dict(re.findall(r"(\S+?)=(\S*)", text))


def scontrol_jobs(name: str) -> list[dict[str, str]]:
    """SLURM's record of every job named ``name`` (the executor names jobs by run ID)."""
    out = subprocess.run(["scontrol", "show", "job", "-d", "-o"], capture_output=True,
                         text=True, check=True).stdout
    jobs = [keyvals(line) for line in out.splitlines() if "JobId=" in line]
    return [j for j in jobs if j.get("JobName") == name]


def jobcomp() -> dict[str, dict[str, str]]:
    """The job-completion log (jobcomp/filetxt), by job id."""
    lines = (STATE / "jobcomp.log").read_text().splitlines()
    return {r["JobId"]: r for r in map(keyvals, lines) if "JobId" in r}


def tres(job: dict[str, str]) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in job["TRES"].split(","))


def rule_of(comment: str, groups: dict[str, str]) -> str:
    """The rule a job ran, from the executor's comment rule_<rule>[_wildcards_...] or
    rule_<group>_<rule> for a group job."""
    name = comment.removeprefix("rule_")
    for rule, group in groups.items():
        if name.startswith(f"{group}_"):
            return rule
    return name.split("_wildcards_")[0]


@dataclass
class Runs:
    local: Path
    cpu: Path
    gpu: Path
    killed: Path
    logs: dict[str, str] = field(default_factory=dict)
    rcs: dict[str, int] = field(default_factory=dict)
    cancelled: str = ""
    killed_job: str = ""
    after_cancel: dict = field(default_factory=dict)
    after_kill: dict = field(default_factory=dict)


def scancel(jobid: str) -> bool:
    subprocess.run(["scancel", jobid], check=True)
    return True


def kill_job_processes(jobid: str) -> bool:
    """SIGKILL the processes of the job's step (Snakemake running the rule, started by srun)
    on the node, as the OOM killer or a crash would. False while that step has not started."""
    out = subprocess.run(["scontrol", "listpids", jobid], capture_output=True, text=True).stdout
    pids = [int(row.split()[0]) for row in out.splitlines()[1:]
            if len(row.split()) > 2 and row.split()[2].isdigit()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return bool(pids)


def interrupt_recon(actions: dict[str, tuple[subprocess.Popen, Callable[[str], bool]]],
                    deadline: float) -> dict[str, str]:
    """For each run, apply its action (scancel, kill) to its reconstruction job once that has
    been running for 2 s. Returns the SLURM job id hit in each run."""
    hit: dict[str, str] = {}
    running_since: dict[str, float] = {}
    while len(hit) < len(actions) and time.monotonic() < deadline:
        for name, (proc, action) in actions.items():
            m = re.search(r"SLURM run ID: (\S+)", proc.log.read_text())
            if name in hit or not m:
                continue
            assert proc.poll() is None, f"{name} run ended before its job could be interrupted"
            out = subprocess.run(["squeue", "-h", "--name", m.group(1), "-o", "%i|%T|%k"],
                                 capture_output=True, text=True).stdout
            for line in out.splitlines():
                jobid, state, comment = line.split("|")
                if state == "RUNNING" and comment.startswith("rule_recon_slab"):
                    t0 = running_since.setdefault(name, time.monotonic())
                    if time.monotonic() - t0 >= 2 and action(jobid):
                        hit[name] = jobid
        time.sleep(0.5)
    assert len(hit) == len(actions), f"reconstruction jobs seen running: {hit}"
    return hit


@pytest.fixture(scope="module")
def runs(slurm_cluster: Path, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    base = tmp_path_factory.mktemp("slurm_runs")
    r = Runs(*(workdir(base / n) for n in ("local", "cpu", "gpu", "killed")))
    deadline = time.monotonic() + RUN_LIMIT_S
    local = snakemake(r.local, "local")
    cpu = snakemake(r.cpu, "slurm")
    # GPU profile, first without retries so that the cancelled job fails the run; and a CPU run
    # whose reconstruction job gets its processes killed
    gpu = snakemake(r.gpu, "slurm-gpu", "--retries", "0", LABELS)
    killed = snakemake(r.killed, "slurm", "--retries", "0", VOLUME)
    try:
        hit = interrupt_recon({"gpu": (gpu, scancel), "killed": (killed, kill_job_processes)},
                              deadline)
    except BaseException:  # no Snakemake of a failed setup may go on submitting jobs
        for proc in (local, cpu, gpu, killed):
            proc.terminate()
        subprocess.run(["scancel", "--user", os.environ.get("USER", "root")], check=False)
        raise
    r.cancelled, r.killed_job = hit["gpu"], hit["killed"]
    r.rcs["gpu_cancelled"], r.logs["gpu_cancelled"] = finish(gpu)
    r.rcs["killed"], r.logs["killed"] = finish(killed)
    r.after_kill = {"slabs": sorted((r.killed / "results" / SCAN / "recon.parts").glob("*")),
                    "recon_exists": (r.killed / VOLUME).exists()}
    slabs = sorted((r.gpu / "results" / SCAN / "recon.parts").glob("*"))
    dry = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "-n",
         "--rerun-incomplete", LABELS], cwd=r.gpu, capture_output=True, text=True,
        env=cluster_env(),
    )
    r.after_cancel = {"slabs": slabs, "dry_run": dry.stdout + dry.stderr,
                      "recon_exists": (r.gpu / VOLUME).exists()}
    r.rcs["gpu"], r.logs["gpu"] = finish(snakemake(r.gpu, "slurm-gpu", LABELS))
    r.rcs["local"], r.logs["local"] = finish(local)
    r.rcs["cpu"], r.logs["cpu"] = finish(cpu)
    return r


def planned_jobs(log: str) -> dict[str, list[dict[str, int]]]:
    """Per rule, the threads and resources Snakemake gave each of its jobs (from its log):
    the workflow computes memory and run time from the scan's shape."""
    jobs: dict[str, list[dict[str, int]]] = {}
    # jobs of a group job are printed indented under "Group job NAME"
    for block in re.split(r"\n(?=[ \t]*\[[^\]]+\]\n[ \t]*(?:local)?rule )", log):
        m = re.search(r"^[ \t]*(?:local)?rule (\w+):", block, re.M)
        res = re.search(r"resources: (.*)", block)
        if not m or not res or m.group(1) == "all":
            continue
        values = dict(kv.split("=", 1) for kv in res.group(1).split(", "))
        threads = re.search(r"threads: (\d+)", block)
        jobs.setdefault(m.group(1), []).append({
            "threads": int(threads.group(1)) if threads else 1,
            "mem_mb": int(values["mem_mb"]), "runtime": int(values["runtime"])})
    return jobs


def check_records(log: str, prof: str) -> dict[str, list[dict[str, str]]]:
    """Every SLURM job of a run: completed, on the intended partition, with the CPUs, memory,
    time limit and GPU its rule asked for (a group job: within one node's limits). Returns
    SLURM's records by rule."""
    cfg = profile(prof)
    planned = planned_jobs(log)
    jobs = scontrol_jobs(run_id(log))
    assert jobs, "SLURM has no record of the run's jobs"
    completions = jobcomp()
    by_rule: dict[str, list[dict[str, str]]] = {}
    for job in jobs:
        rule = rule_of(job["Comment"], cfg["groups"])
        by_rule.setdefault(rule, []).append(job)
        res = {**cfg["default-resources"], **cfg.get("set-resources", {}).get(rule, {})}
        done = completions[job["JobId"]]
        assert job["JobState"] == done["JobState"] == "COMPLETED", (rule, job["JobId"])
        partition = eval(res["slurm_partition"])  # noqa: S307  ("'gpu'" -> gpu)
        assert job["Partition"] == done["Partition"] == partition, rule
        used = tres(job)
        mem = int(used["mem"].removesuffix("M"))
        assert done["Tres"].startswith(f"cpu={used['cpu']},mem={used['mem']}"), rule
        if rule in cfg["groups"]:  # several jobs in one: at most one node
            assert int(used["cpu"]) <= int(cfg["resources"]["cpus_per_task"]), rule
            assert mem <= int(cfg["resources"]["mem_mb"]), rule
            assert int(done["TimeLimit"]) >= max(p["runtime"] for p in planned[rule]), rule
        else:
            want = planned[rule][0]
            assert int(used["cpu"]) == want["threads"], rule
            assert mem == want["mem_mb"], rule
            assert int(done["TimeLimit"]) == want["runtime"], rule
        if "gpu" in res:
            assert job.get("TresPerJob") == f"gres:gpu:{GPU_MODEL}:1", rule
            assert job.get("JOB_GRES") == f"gpu:{GPU_MODEL}:1", rule
        else:
            assert "TresPerJob" not in job and job.get("JOB_GRES") in (None, "(null)"), rule
    return by_rule


def zarr_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of a zarr store (one array, or a group such as prep.zarr), by name."""
    with warnings.catch_warnings():  # Snakemake's .snakemake_timestamp inside directory outputs
        warnings.simplefilter("ignore")
        node = zarr.open(store=str(path), mode="r")
        if isinstance(node, zarr.Array):
            return {"": np.asarray(open_volume(path)[...])}
        return {name: np.asarray(arr[...]) for name, arr in node.arrays()}


def assert_same_store(a: Path, b: Path) -> None:
    arrays_a, arrays_b = zarr_arrays(a), zarr_arrays(b)
    assert arrays_a.keys() == arrays_b.keys() and arrays_a, a
    for name, va in arrays_a.items():
        vb = arrays_b[name]
        assert va.shape == vb.shape and va.dtype == vb.dtype, (a, name)
        scale = float(np.abs(va).max()) if va.size and va.dtype.kind == "f" else 1.0
        np.testing.assert_allclose(va, vb, rtol=0, atol=1e-6 * (scale or 1.0), err_msg=name)


def assert_same_numbers(a, b, where: str = "") -> None:
    """Nested JSON equal, numbers to 1e-9 relative (wall-clock timings excepted)."""
    if isinstance(b, dict):
        assert isinstance(a, dict) and a.keys() == b.keys(), where
        for key in b:
            if key == "seconds":
                continue
            assert_same_numbers(a[key], b[key], f"{where}/{key}")
    elif isinstance(b, list):
        assert isinstance(a, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_numbers(x, y, f"{where}[{i}]")
    elif isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12, nan_ok=True), where
    else:
        assert a == b, where


def test_runs_succeed(runs: Runs) -> None:
    for name in ("local", "cpu", "gpu"):
        assert runs.rcs[name] == 0, f"{name} run failed:\n{runs.logs[name][-4000:]}"


def test_cpu_profile_jobs_as_slurm_recorded_them(runs: Runs) -> None:
    by_rule = check_records(runs.logs["cpu"], "slurm")
    assert {"simulate_dxchange", "flats", "ingest", "center", "recon_slab", "recon_merge",
            "segment_slab", "segment_merge", "morphology", "report"} <= set(by_rule)
    # 2 slabs -> one grouped SLURM job per slab rule
    assert len(by_rule["recon_slab"]) == len(by_rule["segment_slab"]) == 1
    assert {j["Partition"] for js in by_rule.values() for j in js} == {"cpu"}


def test_gpu_profile_puts_reconstruction_and_segmentation_on_gpus(runs: Runs) -> None:
    by_rule = check_records(runs.logs["gpu"], "slurm-gpu")
    for rule in ("recon_slab", "segment_slab"):
        assert [j["Partition"] for j in by_rule[rule]] == ["gpu"], rule
    assert {j["Partition"] for r, js in by_rule.items() if r not in GPU_RULES for j in js} \
        == {"cpu"}


def test_cancelled_job_leaves_nothing_complete_and_rerun_finishes(runs: Runs) -> None:
    assert runs.rcs["gpu_cancelled"] != 0
    record = jobcomp()[runs.cancelled]
    assert record["JobState"] == "CANCELLED" and record["Partition"] == "gpu"
    assert not runs.after_cancel["recon_exists"]
    # Snakemake removed the cancelled job's outputs: nothing left that it could take as done
    assert runs.after_cancel["slabs"] == []
    dry = runs.after_cancel["dry_run"]
    assert re.search(r"recon_slab\s+2\b", dry), dry[-3000:]
    # ... and the rerun (same command, default retries) finished: results below equal local's
    assert runs.rcs["gpu"] == 0


def test_killed_job_leaves_nothing_complete(runs: Runs) -> None:
    assert runs.rcs["killed"] != 0
    record = jobcomp()[runs.killed_job]
    assert record["JobState"] == "FAILED" and record["Partition"] == "cpu"
    assert runs.after_kill == {"slabs": [], "recon_exists": False}


# ids are the profile names (a bare "gpu" id would read as the gpu marker and be skipped)
@pytest.mark.parametrize("prof", ["slurm", "slurm-gpu"])
def test_results_equal_local_run(runs: Runs, prof: str) -> None:
    run = {"slurm": "cpu", "slurm-gpu": "gpu"}[prof]
    work = getattr(runs, run)
    for store in ("prep.zarr", "scan.ome.zarr/0", "scan.ome.zarr/labels/phases/0"):
        assert_same_store(runs.local / "results" / SCAN / store, work / "results" / SCAN / store)
    if run == "cpu":
        local = json.loads((runs.local / "results" / SCAN / "morphology.json").read_text())
        remote = json.loads((work / "results" / SCAN / "morphology.json").read_text())
        assert_same_numbers(remote, local)
        pd.testing.assert_frame_equal(pd.read_csv(runs.local / "results" / "summary.csv"),
                                      pd.read_csv(work / "results" / "summary.csv"))
        assert (work / "results" / "report.html").stat().st_size > 0


def test_cluster_script_is_idempotent(slurm_cluster: Path) -> None:
    t0 = time.monotonic()
    subprocess.run([CLUSTER, "start"], check=True, timeout=60)
    assert time.monotonic() - t0 < 5
    status = subprocess.run([CLUSTER, "status"], capture_output=True, text=True, check=True)
    partitions = {line.split()[0] for line in status.stdout.splitlines()[4:-1]}
    assert partitions == {"cpu*", "gpu"}
    assert shutil.which("sbatch")
