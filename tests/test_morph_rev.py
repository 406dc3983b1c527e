"""Tortuosity on cubes inside the sample (representative volume element) when a sample is
too large to solve whole."""

from __future__ import annotations

import json
import math

import jsonschema
import numpy as np
import pytest
from scipy import ndimage as ndi

from tomosnake.morph import SCHEMA_PATH, analyse, summary_row, tortuosity, write_morphology_json
from tomosnake.morph.rev import placements
from tomosnake.morph.sample import Region

PHASES = {"pore": 0, "solid": 1}


def channels(shape=(64, 64, 64)) -> np.ndarray:
    """Straight pore channels along z, 2 x 2 voxels every 4 voxels in y and x."""
    lab = np.ones(shape, np.uint8)
    lab[:, 1::4, 1::4] = lab[:, 2::4, 1::4] = lab[:, 1::4, 2::4] = lab[:, 2::4, 2::4] = 0
    return lab


def settings(**kw) -> dict:
    base = {"sample": {"mode": "none"}, "tortuosity_max_voxels": 20**3}
    return base | kw


def test_straight_channels_give_tau_one_in_every_cube(tmp_path):
    rec = analyse(
        channels(), PHASES, None, ["tau"], axes=("z", "x"),
        settings=settings(tortuosity_cube_vox=32, tortuosity_cubes=8, tortuosity_rev_sizes=2),
    )  # fmt: skip
    t = rec["tortuosity"]["pore"]["z"]
    assert t["method"] == "subvolumes" and t["n_subvolumes"] == 8
    assert t["tau"] == pytest.approx(1.0, abs=1e-9) and t["tau_std"] == pytest.approx(0, abs=1e-9)
    assert t["eps"] == pytest.approx(0.25) and t["macmullin"] == pytest.approx(4.0)
    rev = rec["tortuosity_rev"]["pore"]["z"]
    assert rev["cube_vox"] == [16, 32] and rev["n"] == [8, 8]
    assert rev["tau_mean"] == pytest.approx([1.0, 1.0], abs=1e-9)
    across = rec["tortuosity"]["pore"]["x"]
    assert not across["percolates"] and across["flag"] == "non-percolating"
    assert math.isinf(across["tau"]) and rec["tortuosity_rev"]["pore"]["x"]["n"] == [0, 0]
    assert rec["solver"]["tortuosity"]["pore"]["z"]["n_solves"] == 16
    data = json.loads(write_morphology_json(rec, tmp_path / "m.json").read_text())
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    assert data["tortuosity_rev"]["pore"]["x"]["tau_mean"] == [None, None]
    row = summary_row(rec)
    assert row["tau_pore_z"] == pytest.approx(1.0) and row["tau_std_pore_z"] == pytest.approx(0)


def test_small_sample_is_solved_whole():
    rec = analyse(channels((16, 16, 16)), PHASES, None, ["tau"], axes=("z",), settings=settings())
    t = rec["tortuosity"]["pore"]["z"]
    assert t["method"] == "whole" and t["tau_std"] is None and t["n_subvolumes"] is None
    assert "tortuosity_rev" not in rec


def medium(n: int, seed: int = 1) -> np.ndarray:
    """Statistically homogeneous, isotropic pores (porosity 0.45) in a solid."""
    rng = np.random.default_rng(seed)
    f = ndi.gaussian_filter(rng.standard_normal((n, n, n)), 1.5, mode="wrap")
    return (f >= np.quantile(f, 0.45)).astype(np.uint8)  # pore = 0: the lowest 45 %


def test_cube_means_converge_to_the_whole_volume():
    """Homogeneous medium: larger cubes scatter less and their mean nears the whole tau."""
    lab = medium(96)
    whole = tortuosity(lab == 0, "z").tau
    rec = analyse(
        lab, PHASES, None, ["tau"], axes=("z",),
        settings=settings(tortuosity_cube_vox=48, tortuosity_cubes=8, tortuosity_rev_sizes=3),
    )  # fmt: skip
    rev = rec["tortuosity_rev"]["pore"]["z"]
    assert rev["cube_vox"] == [12, 24, 48] and rev["n"][-1] == 8
    assert rev["tau_std"][2] < min(rev["tau_std"][:2])  # the largest cubes scatter least
    err = [abs(m - whole) for m in rev["tau_mean"]]
    assert err[2] < 0.05 * whole and err[2] < min(err[:2])
    assert rec["tortuosity"]["pore"]["z"]["tau"] == pytest.approx(rev["tau_mean"][-1])


def test_cubes_lie_inside_a_pillar():
    n, radius = 64, 24.0
    lab = medium(n)
    y, x = np.mgrid[:n, :n] + 0.5 - n / 2
    lab[:, y**2 + x**2 > radius**2] = 0  # air, labelled pore
    cfg = {"tortuosity_cube_vox": 24, "tortuosity_cubes": 2}
    rec = analyse(lab, PHASES, None, ["tau"], axes=("z",), settings=cfg)
    assert (
        rec["sample"]["mode"] == "auto" and rec["tortuosity"]["pore"]["z"]["method"] == "subvolumes"
    )
    region = Region(lab, rec["sample"])
    mask = region.mask(0, n)
    chosen = placements(region, rec["sample"], [24, 12], None)
    assert len(chosen[24]) and len(chosen[12]) > len(chosen[24])
    for c, corners in chosen.items():
        for z0, y0, x0 in corners:
            assert mask[z0 : z0 + c, y0 : y0 + c, x0 : x0 + c].all()
    # the largest square inside a circle of radius 24 has side 33.9: one 24-cube per z level
    assert rec["tortuosity_rev"]["pore"]["z"]["cube_vox"][-1] == 24
    assert rec["tortuosity"]["pore"]["z"]["n_subvolumes"] == 2
