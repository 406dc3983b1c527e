"""The Snakemake profiles: they parse, name real rules, hold only cluster settings, and the GPU
overlay adds only GPU requests.

No cluster needed; tests/test_slurm_workflow.py runs the profiles against a real SLURM.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yte
from snakemake.cli import parse_config

from tomosnake.layout import job_sizes, plan

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"
GPU_RULES = {"recon_slab", "train_segmenter", "segment_slab"}


def load_profile(name: str) -> dict:
    """The profile as Snakemake sees it after yte processing (environment as it is now)."""
    with open(PROFILES / name / "config.yaml") as fh:
        return yte.process_yaml(fh, require_use_yte="slurm" in name)


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
    (work / "config" / "config.yaml").write_text(
        "scans: config/scans.tsv\nsimulate: {x: {shape: [8, 32, 32]}}\n"
    )
    (work / "config" / "scans.tsv").write_text(
        "scan_id\tpath\tformat\nx\tresources/sim/x.h5\tdxchange\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"),
         "--list-rules"], cwd=work, capture_output=True, text=True, check=True,
    ).stdout
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
    # threads are capped at the node size given by the site, and so is a grouped job
    assert set(cfg["set-threads"].values()) == {2}
    assert cfg["resources"] == {"mem_mb": 3000, "cpus_per_task": 2}


def test_profiles_leave_memory_and_time_to_the_rules() -> None:
    """Resources are defined once: the rules compute them from the scan's shape; the
    profiles set no mem_mb or runtime per rule, and the CPU profile asks for no GPU."""
    cpu, gpu = load_profile("slurm"), load_profile("slurm-gpu")
    assert "set-resources" not in cpu and "gpu" not in cpu["resources"]
    for res in gpu["set-resources"].values():
        assert not {"mem_mb", "runtime"} & set(res)
    assert cpu["retries"] >= 1


def test_job_resources_follow_the_scan_and_grow_with_each_retry() -> None:
    small = job_sizes(plan(1500, 64, 2048))["recon_slab"]
    tall = job_sizes(plan(1500, 2048, 2048))["recon_slab"]
    assert small.mem_mb == tall.mem_mb and tall.jobs == 32 * small.jobs
    tiny = job_sizes(plan(181, 32, 128))["recon_slab"]
    assert tiny.mem_mb < small.mem_mb / 4  # a small scan does not ask for a big node
    mem = [small.attempt(a)[0] for a in (1, 2, 3)]
    runtime = [small.attempt(a)[1] for a in (1, 2, 3)]
    assert mem[0] < mem[1] < mem[2] and runtime[0] < runtime[1] < runtime[2]


def test_gpu_overlay_adds_only_gpu_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOMOSNAKE_SLURM_GPU_MODEL", "a100")
    monkeypatch.setenv("TOMOSNAKE_SLURM_GPU_CONSTRAINT", "80g")
    cpu, gpu = load_profile("slurm"), load_profile("slurm-gpu")
    assert set(gpu) == {"set-resources", "resources", "set-resource-scopes", "config"}
    assert gpu["config"] == ["gpu_envs=True"]  # the CUDA builds of the GPU rules' envs
    assert parse_config(gpu["config"]) == {"gpu_envs": True}  # a boolean, as the schema wants
    assert set(gpu["set-resources"]) == GPU_RULES
    for res in gpu["set-resources"].values():
        assert res == {"slurm_partition": "'gpu'", "gpu": 1, "gpu_model": "'a100'",
                       "constraint": "'80g'"}
    assert gpu["resources"] == {**cpu["resources"], "gpu": 1}  # one GPU per grouped job
    # without a model or constraint only the count is requested
    monkeypatch.delenv("TOMOSNAKE_SLURM_GPU_MODEL")
    monkeypatch.delenv("TOMOSNAKE_SLURM_GPU_CONSTRAINT")
    plain = load_profile("slurm-gpu")["set-resources"]["recon_slab"]
    assert plain == {"slurm_partition": "'gpu'", "gpu": 1}


@pytest.mark.parametrize("profile", ["slurm", "slurm-gpu"])
def test_profile_names_only_real_rules(profile: str, workflow_rules: set[str]) -> None:
    """A renamed rule would silently lose its settings: every name must exist."""
    cfg = load_profile(profile)
    named = (set(cfg.get("set-resources", {})) | set(cfg.get("set-threads", {}))
             | set(cfg.get("groups", {})))
    assert named - workflow_rules == set()
    if profile == "slurm":  # the slab and block rules are grouped, every group has a count
        assert set(cfg["groups"]) == {"ingest", "recon_slab", "segment_slab"}
        assert set(cfg["group-components"]) == set(cfg["groups"].values())


def test_local_profile_uses_project_environment() -> None:
    cfg = load_profile("local")
    assert "executor" not in cfg or cfg["executor"] == "local"
    assert "software-deployment-method" not in cfg
    assert cfg["cores"] >= 1
