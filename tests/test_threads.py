"""Every job uses exactly its ``threads``: BLAS/OpenMP pools, scipy.fft, torch, zarr, and code
that asks tomosnake.threads (edt, scikit-learn, the random forest)."""

from __future__ import annotations

import logging
import subprocess
import sys
from types import SimpleNamespace

import scipy.fft
import torch
import zarr
from threadpoolctl import threadpool_info

from tomosnake import threads
from tomosnake.smk import run_script


def _pools() -> dict[str, int]:
    return {
        "threadpoolctl": max(p["num_threads"] for p in threadpool_info()),
        "scipy.fft": scipy.fft.get_workers(),
        "torch": torch.get_num_threads(),
        "zarr": zarr.config.get("threading.max_workers"),
        "tomosnake": threads.current(),
    }


def test_use_threads_sets_every_pool_and_restores_them():
    before = _pools()
    with threads.use_threads(1):
        assert set(_pools().values()) == {1}
        with threads.use_threads(3):  # nested: the inner limit, then back to 1
            assert _pools()["tomosnake"] == 3 and _pools()["torch"] == 3
        assert set(_pools().values()) == {1}
    assert _pools() == before


def test_torch_imported_inside_the_limit_starts_with_it():
    code = ("from tomosnake.threads import use_threads\n"
            "with use_threads(1):\n"
            "    import torch\n"
            "    print(torch.get_num_threads())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_a_workflow_script_runs_with_its_rule_threads(tmp_path):
    seen = {}
    job = SimpleNamespace(rule="recon_slab", wildcards={"scan": "s"}, threads=1,
                          log=[str(tmp_path / "job.log")])
    run_script(job, lambda: seen.update(_pools()))
    logging.getLogger().handlers.clear()
    assert set(seen.values()) == {1}
    log = (tmp_path / "job.log").read_text()
    assert "threads 1" in log and "io: read 0 bytes (zarr chunks 0, raw frames 0)" in log
