"""``tomosnake verify``: outputs record their inputs; stale and incomplete outputs are reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tomosnake import pipeline
from tomosnake.cli import main
from tomosnake.synth import PhantomSpec, ScanSpec, write_simulated_scan
from tomosnake.verify import fingerprint, verify

SPEC = ScanSpec(phantom=PhantomSpec(shape=(8, 32, 32), seed=1), n_angles=48)


@pytest.fixture()
def results(tmp_path, monkeypatch) -> Path:
    """raw.zarr and prep.zarr of one tiny simulated scan, made with relative paths."""
    monkeypatch.chdir(tmp_path)
    write_simulated_scan("raw/scan.h5", SPEC)
    pipeline.ingest("raw/scan.h5", "results/s1/raw.zarr")
    pipeline.preprocess("results/s1/raw.zarr", "results/s1/prep.zarr", rings="none")
    return tmp_path / "results"


def test_fresh_outputs_verify_clean(results, capsys):
    assert verify(results) == []
    assert main(["verify", str(results)]) == 0
    assert "complete and up to date" in capsys.readouterr().out


def test_changed_raw_file_makes_ingest_output_stale(results):
    write_simulated_scan("raw/scan.h5", ScanSpec(phantom=SPEC.phantom, n_angles=48, seed=9))
    problems = verify(results)
    assert [(Path(p.output).name, p.status) for p in problems] == [("raw.zarr", "stale")]
    assert "raw/scan.h5" in problems[0].detail


def test_changed_intermediate_makes_downstream_stale(results):
    pipeline.ingest("raw/scan.h5", "results/s1/raw.zarr", voxel_size_um=0.1)
    assert [(Path(p.output).name, p.status) for p in verify(results)] == [("prep.zarr", "stale")]


def test_missing_chunk_is_incomplete(results):
    chunks = sorted((results / "s1" / "prep.zarr" / "proj" / "c").rglob("*"))
    next(c for c in chunks if c.is_file()).unlink()
    problems = verify(results)
    assert problems[0].status == "incomplete" and "missing" in problems[0].detail


def test_interrupted_write_is_reported(results, capsys):
    shutil.copytree(results / "s1" / "prep.zarr", results / "s1" / ".recon.zarr.tmp-4242")
    problems = verify(results)
    assert [p.status for p in problems] == ["incomplete"]
    assert main(["verify", str(results)]) == 1
    assert ".recon.zarr.tmp-4242" in capsys.readouterr().out


def test_fingerprint_sees_content_not_mtime(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"x" * 100)
    before = fingerprint(f)
    f.write_bytes(b"x" * 100)  # same bytes, new mtime
    assert fingerprint(f) == before
    f.write_bytes(b"y" * 100)
    assert fingerprint(f)["sha256"] != before["sha256"]
