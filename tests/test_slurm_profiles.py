"""The Snakemake profiles: they parse, name real rules, and the SLURM pair stays in step.

No cluster needed; tests/test_slurm_workflow.py runs the profiles against a real SLURM.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yte

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"
GPU_RULES = {"recon_slab", "train_segmenter", "segment_chunk"}


def load_profile(name: str) -> dict:
    """The profile as Snakemake sees it after yte processing (environment as it is now)."""
    with open(PROFILES / name / "config.yaml") as fh:
        return yte.process_yaml(fh, require_use_yte="slurm" in name)


def evaluate(expr, attempt: int) -> int:
    """A resource value as Snakemake evaluates it for one job attempt."""
    return expr if isinstance(expr, int) else eval(str(expr), {"attempt": attempt})  # noqa: S307


@pytest.fixture(autouse=True)
def _no_site_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Profiles read TOMOSNAKE_SLURM_* variables: start every test from the defaults."""
    import os

    for key in [k for k in os.environ if k.startswith("TOMOSNAKE_SLURM_")]:
        monkeypatch.delenv(key)


@pytest.fixture(scope="module")
def workflow_rules(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Rule names of the real workflow (from `snakemake --list-rules` on a tiny config)."""
    work = tmp_path_factory.mktemp("rules")
    (work / "config").mkdir()
    (work / "config" / "config.yaml").write_text("scans: config/scans.tsv\n")
    (work / "config" / "scans.tsv").write_text(
        "scan_id\tpath\tformat\nx\tresources/sim/x.h5\tdxchange\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--list-rules"],
        cwd=work, capture_output=True, text=True, check=True,
    ).stdout
    # rule names start a line; a rule's docstring follows indented
    return {line.split()[0] for line in out.splitlines() if line and not line[0].isspace()}


def test_slurm_profile_defaults_and_site_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_profile("slurm")
    assert cfg["executor"] == "slurm"
    assert cfg["slurm-status-command"] == "squeue"
    assert cfg["slurm-no-account"] is True
    assert cfg["default-resources"]["slurm_partition"] == "'cpu'"
    assert "slurm_account" not in cfg["default-resources"]
    site = {
        "TOMOSNAKE_SLURM_ACCOUNT": "mx1234",
        "TOMOSNAKE_SLURM_PARTITION": "short",
        "TOMOSNAKE_SLURM_MAX_CPUS": "2",
        "TOMOSNAKE_SLURM_MAX_MEM_MB": "3000",
    }
    for key, value in site.items():
        monkeypatch.setenv(key, value)
    cfg = load_profile("slurm")
    assert cfg["slurm-no-account"] is False
    assert cfg["default-resources"]["slurm_account"] == "'mx1234'"
    assert cfg["default-resources"]["slurm_partition"] == "'short'"
    # requests are capped at the node size given by the site
    assert cfg["set-resources"]["preprocess"]["cpus_per_task"] == 2
    assert cfg["set-threads"]["preprocess"] == 2
    assert evaluate(cfg["set-resources"]["preprocess"]["mem_mb"], 1) == 3000
    assert cfg["resources"] == {"mem_mb": 3000, "cpus_per_task": 2, "gpu": 1}


def test_memory_and_time_grow_with_each_retry() -> None:
    cfg = load_profile("slurm")
    assert cfg["retries"] >= 1
    for rule, res in cfg["set-resources"].items():
        mem = [evaluate(res["mem_mb"], a) for a in (1, 2, 3)]
        runtime = [evaluate(res["runtime"], a) for a in (1, 2, 3)]
        assert mem[0] < mem[1] < mem[2], rule
        assert runtime[0] < runtime[1] < runtime[2], rule


def test_gpu_profile_differs_only_in_gpu_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOMOSNAKE_SLURM_GPU_MODEL", "a100")
    monkeypatch.setenv("TOMOSNAKE_SLURM_GPU_CONSTRAINT", "80g")
    cpu = load_profile("slurm")
    gpu = load_profile("slurm-gpu")
    gpu_res = gpu.pop("set-resources")
    cpu_res = cpu.pop("set-resources")
    assert gpu == cpu
    assert gpu_res.keys() == cpu_res.keys()
    for rule, res in gpu_res.items():
        if rule in GPU_RULES:
            extra = {k: v for k, v in res.items() if k not in cpu_res[rule]}
            assert extra == {"slurm_partition": "'gpu'", "gpu": 1, "gpu_model": "'a100'",
                             "constraint": "'80g'"}, rule
            assert {k: res[k] for k in cpu_res[rule]} == cpu_res[rule], rule
        else:
            assert res == cpu_res[rule], rule
    # without a model or constraint only the count is requested
    monkeypatch.delenv("TOMOSNAKE_SLURM_GPU_MODEL")
    monkeypatch.delenv("TOMOSNAKE_SLURM_GPU_CONSTRAINT")
    plain = load_profile("slurm-gpu")["set-resources"]["recon_slab"]
    assert "gpu_model" not in plain and "constraint" not in plain and plain["gpu"] == 1


@pytest.mark.parametrize("profile", ["slurm", "slurm-gpu"])
def test_profile_names_only_real_rules(profile: str, workflow_rules: set[str]) -> None:
    """A renamed rule would silently lose its resources: every name must exist."""
    cfg = load_profile(profile)
    named = set(cfg["set-resources"]) | set(cfg["set-threads"]) | set(cfg["groups"])
    assert named - workflow_rules == set()
    # every rule that does real work has explicit resources
    assert workflow_rules - {"all"} <= set(cfg["set-resources"])
    # chunk rules are grouped, and every group has a component count
    assert set(cfg["groups"]) == {"recon_slab", "segment_chunk"}
    assert set(cfg["group-components"]) == set(cfg["groups"].values())


def test_local_profile_uses_project_environment() -> None:
    cfg = load_profile("local")
    assert "executor" not in cfg or cfg["executor"] == "local"
    assert "software-deployment-method" not in cfg
    assert cfg["cores"] >= 1
