"""The sample region: a pillar of a 3-phase microstructure in air (air labelled pore).

Every metric is computed inside the sample: fractions are the pillar's, not diluted by
air; the pillar's surface against air is no pore interface; percolation runs between
the sample's own faces. Explicit box/cylinder regions and the automatic one agree.
"""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from tomosnake.errors import ConfigError
from tomosnake.morph import (
    SCHEMA_PATH,
    analyse,
    connectivity,
    sample_mask,
    surface_areas,
    write_morphology_json,
)
from tomosnake.morph.sample import Region

PHASES = {"pore": 0, "cbd": 1, "nmc": 2}
N, NZ, RADIUS = 96, 40, 30.0


def microstructure(shape, seed=0, sigma=1.5) -> np.ndarray:
    """Statistically homogeneous 3 phases: pore 35 %, CBD 15 %, NMC 50 %."""
    rng = np.random.default_rng(seed)
    f = ndi.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    q = np.quantile(f, [0.35, 0.5])
    lab = np.full(shape, 2, np.uint8)
    lab[f < q[1]] = 1
    lab[f < q[0]] = 0
    return lab


def cylinder(n=N, radius=RADIUS) -> np.ndarray:
    """(y, x) mask of the pillar: voxel centres within ``radius`` of the slice middle."""
    y, x = np.mgrid[:n, :n] + 0.5 - n / 2
    return y**2 + x**2 <= radius**2


@pytest.fixture(scope="module")
def pillar() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels with air, the same microstructure everywhere, pillar mask (z, y, x))."""
    structure = microstructure((NZ, N, N))
    inside = np.broadcast_to(cylinder(), structure.shape)
    lab = structure.copy()
    lab[~inside] = 0  # air is segmented as pore
    return lab, structure, inside


CYLINDER = {"mode": "cylinder", "cylinder": {"center_yx": [N / 2, N / 2], "radius": RADIUS}}


def test_fractions_are_the_pillars_not_diluted_by_air(pillar):
    lab, _, inside = pillar
    true = {k: np.count_nonzero((lab == c) & inside) / np.count_nonzero(inside)
            for k, c in PHASES.items()}  # fmt: skip
    diluted = analyse(lab, PHASES, None, ["vf"], settings={"sample": {"mode": "none"}})
    assert diluted["fractions"]["fractions"]["pore"] > true["pore"] + 0.3  # air counted
    exact = analyse(lab, PHASES, None, ["vf"], settings={"sample": CYLINDER})
    assert exact["sample"]["voxels"] == np.count_nonzero(inside)
    assert exact["fractions"]["fractions"] == pytest.approx(true, abs=1e-12)
    auto = analyse(lab, PHASES, None, ["vf"])
    s = auto["sample"]
    assert s["mode"] == "auto" and s["voxels"] == pytest.approx(inside.sum(), rel=5e-3)
    assert s["bbox_zyx"][0] == [0, NZ]
    for (a, b), (ta, tb) in zip(s["bbox_zyx"][1:], [(18, 78), (18, 78)], strict=True):
        assert abs(a - ta) <= 1 and abs(b - tb) <= 1
    assert auto["fractions"]["fractions"] == pytest.approx(true, abs=2e-3)
    assert {b["shape"] for b in s["params"]["blocks"]} == {"cylinder"}


def test_box_inside_the_pillar_counts_only_the_box(pillar):
    lab = pillar[0]
    box = [[5, 35], [30, 66], [28, 70]]
    rec = analyse(lab, PHASES, None, ["vf"], settings={"sample": {"mode": "box", "box": box}})
    sub = lab[5:35, 30:66, 28:70]
    assert rec["sample"]["voxels"] == sub.size and rec["sample"]["bbox_zyx"] == box
    for name, code in PHASES.items():
        assert rec["fractions"]["voxels"][name] == np.count_nonzero(sub == code)


def test_sample_mask_rebuilds_any_slab_from_the_record(pillar, tmp_path):
    lab, _, inside = pillar
    rec = analyse(lab, PHASES, 0.1, ["vf"])
    data = json.loads(write_morphology_json(rec, tmp_path / "m.json").read_text())
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    whole = sample_mask(lab, data["sample"])
    assert whole.sum() == data["sample"]["voxels"]
    np.testing.assert_array_equal(sample_mask(lab[7:19], data["sample"], z0=7), whole[7:19])
    grey = np.zeros((1, N, N), np.float32)  # any array of the slab's shape will do
    np.testing.assert_array_equal(sample_mask(grey, data["sample"], z0=12)[0], whole[12])
    assert np.count_nonzero(whole ^ inside) < 0.01 * inside.sum()


def test_all_sample_volume_comes_out_whole(shared_data):
    """taufactor's electrode has no air: auto finds the whole volume (big border pores too)."""
    img = tifffile.imread(shared_data / "morphology/electrode_taufactor.tiff")[:48, :48, :48]
    phases = {"pore": 0, "nmc": 85, "cbd": 170}
    auto = analyse(img, phases, 0.05, ["vf", "connectivity"])
    assert auto["sample"]["fraction_of_volume"] == 1.0
    none = analyse(img, phases, 0.05, ["vf", "connectivity"], settings={"sample": {"mode": "none"}})
    assert auto["fractions"] == none["fractions"]
    assert auto["connectivity"] == none["connectivity"]


def test_pillar_boundary_against_air_is_no_surface(pillar):
    """Inside the pillar, air around it changes no area: the outside is never interface."""
    lab, structure, _ = pillar
    region = Region(lab, {"mode": "cylinder", "params": CYLINDER["cylinder"] | {"z": [0, NZ]}})
    with_air = surface_areas(lab, PHASES, 1.0, region=region)
    without = surface_areas(structure, PHASES, 1.0, region=region)
    for key in ("area_um2", "interface_area_um2", "specific_surface_um-1"):
        assert with_air[key] == pytest.approx(without[key], rel=1e-9)
    # the whole box would add the solid part of the pillar's mantle (2 pi r h) to the pore
    # surface (air is pore there)
    box = surface_areas(lab, PHASES, 1.0)
    mantle = 2 * np.pi * RADIUS * NZ
    assert box["area_um2"]["pore"] > with_air["area_um2"]["pore"] + 0.4 * mantle
    closed = surface_areas(lab, PHASES, 1.0, closed=True, region=region)
    assert closed["area_um2"]["pore"] > with_air["area_um2"]["pore"] + 0.2 * mantle


def test_percolation_between_the_samples_faces(pillar):
    """Air (labelled pore) connects everything along x; inside the pillar it does not count."""
    lab, structure, _ = pillar
    region = Region(lab, {"mode": "cylinder", "params": CYLINDER["cylinder"] | {"z": [0, NZ]}})
    none = connectivity(lab, PHASES)
    inside = connectivity(lab, PHASES, region=region)
    same = connectivity(structure, PHASES, region=region)
    assert inside == same
    assert none["pore"]["axes"]["x"]["percolating_fraction"] > 0.99  # the air ring
    assert inside["pore"]["voxels"] == np.count_nonzero((lab == 0) & region.mask(0, NZ))
    # the cylinder's x faces are its two half-mantles: the NMC network spans them
    assert inside["nmc"]["axes"]["x"]["percolates"] and inside["nmc"]["axes"]["z"]["percolates"]


def test_pillar_shorter_than_the_volume():
    """A disc: air above and below is left out, plane by plane."""
    lab = microstructure((64, N, N), seed=2)
    inside = np.zeros(lab.shape, bool)
    inside[12:50] = cylinder()
    lab[~inside] = 0
    rec = analyse(lab, PHASES, None, ["vf"])
    assert rec["sample"]["bbox_zyx"][0] == [12, 50]
    assert rec["sample"]["voxels"] == pytest.approx(inside.sum(), rel=5e-3)


def test_bad_regions_name_the_setting(pillar):
    lab = pillar[0]
    with pytest.raises(ConfigError, match=r"morph\.sample\.box\[z\].*<= 40"):
        analyse(lab, PHASES, None, ["vf"], settings={"sample": {"mode": "box",
                "box": [[0, 50], [0, 10], [0, 10]]}})  # fmt: skip
    with pytest.raises(ConfigError, match="morph.sample.box"):
        analyse(lab, PHASES, None, ["vf"], settings={"sample": {"mode": "box"}})
    with pytest.raises(ConfigError, match="center_yx.*outside"):
        bad = {"mode": "cylinder", "cylinder": {"center_yx": [500, 5], "radius": 4}}
        analyse(lab, PHASES, None, ["vf"], settings={"sample": bad})
    with pytest.raises(ConfigError, match="morph.sample.shape: unknown"):
        analyse(lab, PHASES, None, ["vf"], settings={"sample": {"shape": "round"}})
    with pytest.raises(ConfigError, match="morph.sample.mode"):
        analyse(lab, PHASES, None, ["vf"], settings={"sample": {"mode": "pillar"}})
    with pytest.raises(ConfigError, match="empty"):
        analyse(np.zeros((8, 8, 8), np.uint8), PHASES, None, ["vf"])
