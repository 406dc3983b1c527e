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


def make_outputs(raw: str = "raw/scan.h5", voxel_size_um: float | None = None) -> None:
    """prep.zarr, center.json and the volume of one scan, as the workflow's steps make them."""
    s = Path("results/s1")
    pipeline.flats(raw, s / "flats.zarr")
    pipeline.ingest(raw, s / "flats.zarr", s / "prep.parts" / "0.zarr", 0,
                    voxel_size_um=voxel_size_um)
    pipeline.prep_merge([s / "prep.parts" / "0.zarr"], s / "prep.zarr", [raw])
    pipeline.center(s / "prep.zarr", s / "center.json", s / "center_sweep.tif", rings="none")
    pipeline.recon_slab(s / "prep.zarr", s / "center.json", s / "recon.parts" / "0.zarr", 0,
                        rings="none")
    pipeline.recon_merge([s / "recon.parts" / "0.zarr"], s / "scan.ome.zarr" / "0",
                         s / "center.json")
    for temp in ("flats.zarr", "prep.parts", "recon.parts"):
        shutil.rmtree(s / temp)


@pytest.fixture()
def results(tmp_path, monkeypatch) -> Path:
    """The outputs of one tiny simulated scan, made with relative paths."""
    monkeypatch.chdir(tmp_path)
    write_simulated_scan("raw/scan.h5", SPEC)
    make_outputs()
    return tmp_path / "results"


def test_fresh_outputs_verify_clean(results, capsys):
    assert verify(results) == []
    assert main(["verify", str(results)]) == 0
    assert "complete and up to date" in capsys.readouterr().out


def _found(results: Path) -> list[tuple[str, str]]:
    return sorted((str(Path(p.output).relative_to(results / "s1")), p.status)
                  for p in verify(results))


def test_changed_raw_file_makes_everything_made_from_it_stale(results):
    """The volume records the raw scan (prep.zarr is temporary) and the centre."""
    write_simulated_scan("raw/scan.h5", ScanSpec(phantom=SPEC.phantom, n_angles=48, seed=9))
    assert _found(results) == [("center.json", "stale"), ("prep.zarr", "stale"),
                               ("scan.ome.zarr/0", "stale")]
    assert all("raw/scan.h5" in p.detail for p in verify(results))


def test_changed_centre_makes_the_volume_stale(results):
    pipeline.center("results/s1/prep.zarr", "results/s1/center.json", "results/s1/sw.tif",
                    rings="none", center=20.0)
    assert _found(results) == [("scan.ome.zarr/0", "stale")]


def test_missing_chunk_is_incomplete(results):
    chunks = sorted((results / "s1" / "scan.ome.zarr" / "0" / "c").rglob("*"))
    next(c for c in chunks if c.is_file()).unlink()
    problems = verify(results)
    assert problems[0].status == "incomplete" and "missing" in problems[0].detail


def test_interrupted_write_is_reported(results, capsys):
    shutil.copytree(results / "s1" / "prep.zarr", results / "s1" / "scan.ome.zarr" / ".1.tmp-42")
    problems = verify(results)
    assert [p.status for p in problems] == ["incomplete"]
    assert main(["verify", str(results)]) == 1
    assert ".1.tmp-42" in capsys.readouterr().out


def test_fingerprint_sees_content_not_mtime(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"x" * 100)
    before = fingerprint(f)
    f.write_bytes(b"x" * 100)  # same bytes, new mtime
    assert fingerprint(f) == before
    f.write_bytes(b"y" * 100)
    assert fingerprint(f)["sha256"] != before["sha256"]
