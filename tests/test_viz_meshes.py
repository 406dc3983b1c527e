"""Phase surfaces: marching cubes meshes in micrometres, binary PLY files within a size
budget, web previews, renders."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import tifffile
import trimesh

from tomosnake.errors import ConfigError
from tomosnake.io import write_volume
from tomosnake.viz import export_meshes, phase_mesh, write_ome_zarr, write_ply
from tomosnake.viz.meshes import PREVIEW_BUDGET, surfaces_figure, unpack_preview
from tomosnake.viz.style import figure_bytes, phase_color, phase_hex


def _ball(shape=(40, 50, 45), centre=(20, 25, 22), radius=15.0) -> np.ndarray:
    zz, yy, xx = np.indices(shape)
    r2 = (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2
    return (r2 <= radius**2).astype(np.uint8)


def _edge_counts(faces: np.ndarray) -> np.ndarray:
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    return np.unique(edges, axis=0, return_counts=True)[1]


@pytest.mark.parametrize("step", [1, 2, 3])
def test_ball_mesh_matches_sphere(step):
    voxel = 0.5
    verts, faces = phase_mesh(_ball(), 1, voxel, step)
    mesh = trimesh.Trimesh(verts, faces, process=False)
    r_um = 15 * voxel
    assert mesh.is_watertight and mesh.is_winding_consistent
    # outward normals: positive enclosed volume, close to the sphere's
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * r_um**3, rel=0.03)
    # vertex columns are (x, y, z) in micrometres: the centre (z, y, x) = (20, 25, 22) voxels
    np.testing.assert_allclose(mesh.vertices.mean(axis=0), [11.0, 12.5, 10.0], atol=0.1)
    assert mesh.vertices[:, 2].max() == pytest.approx((20 + 15) * voxel, abs=step * voxel)


def _canonical_triangles(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Triangles as sorted rows of 9 coordinates, each rotated (winding kept) to start lowest."""
    tri = verts[faces]  # (m, 3, 3)
    keys = tri[:, :, 0] * 1e6 + tri[:, :, 1] * 1e3 + tri[:, :, 2]
    start = np.argmin(keys, axis=1)
    order = (start[:, None] + np.arange(3)) % 3
    rows = np.take_along_axis(tri, order[:, :, None], axis=1).reshape(-1, 9)
    return rows[np.lexsort(rows.T[::-1])]


def test_slabs_give_the_same_mesh():
    ball = _ball()
    whole = phase_mesh(ball, 1, 1.0, 2)
    slabbed = phase_mesh(ball, 1, 1.0, 2, slab_bytes=30_000)  # about 4 planes per slab
    assert len(slabbed[0]) == len(whole[0])  # seam vertices merged, none lost
    np.testing.assert_array_equal(_canonical_triangles(*whole), _canonical_triangles(*slabbed))
    assert trimesh.Trimesh(*slabbed, process=False).is_watertight


def test_phase_touching_the_border_is_closed():
    vol = np.zeros((10, 12, 14), np.uint8)
    vol[:, :6] = 1  # half the box: touches five faces of the volume
    verts, faces = phase_mesh(vol, 1, 2.0, 1)
    mesh = trimesh.Trimesh(verts, faces, process=False)
    assert mesh.is_watertight
    # the surface passes half a voxel outside the border voxels' centres (between the data
    # and the padding), so the shell holds the voxels' own volume, less the cut corners
    assert mesh.volume == pytest.approx(10 * 6 * 14 * 2.0**3, rel=0.02)
    assert mesh.bounds[0] == pytest.approx([-1.0, -1.0, -1.0])


def test_bad_step_size():
    with pytest.raises(ConfigError, match="step_size"):
        phase_mesh(_ball(), 1, 1.0, 0)


def test_ply_round_trip(tmp_path):
    verts, faces = phase_mesh(_ball(), 1, 0.25, 2)
    path = write_ply(tmp_path / "ball.ply", verts, faces, "units micrometre")
    head = path.read_bytes()[:400]
    assert head.startswith(b"ply\nformat binary_little_endian 1.0\ncomment units micrometre\n")
    mesh = trimesh.load(path, process=False)
    np.testing.assert_array_equal(mesh.vertices, verts)
    np.testing.assert_array_equal(mesh.faces, faces)


def test_export_meshes_per_phase(tmp_path):
    labels = _ball() * 2  # nmc ball in pore; no cbd
    write_volume(
        tmp_path / "labels.zarr",
        labels,
        {"phases": {"pore": 0, "cbd": 1, "nmc": 2}, "voxel_size_um": 0.1},
    )
    out = export_meshes(tmp_path / "labels.zarr", tmp_path / "meshes")
    assert out["ply"] == {"pore": "pore.ply", "nmc": "nmc.ply"} and out["step"] == 1
    nmc = trimesh.load(tmp_path / "meshes" / "nmc.ply", process=False)
    pore = trimesh.load(tmp_path / "meshes" / "pore.ply", process=False)
    assert nmc.volume == pytest.approx(4 / 3 * np.pi * 1.5**3, rel=0.03)
    # the pore surface encloses the box minus the ball (its inner shell is inverted)
    box = 40 * 50 * 45 * 0.1**3
    assert pore.volume == pytest.approx(box - nmc.volume, rel=0.02)
    # the web preview: quantised to uint16, decodes to a closed ball of the same volume
    record = json.loads((tmp_path / "meshes" / out["preview"]).read_text())
    assert record["schema"] == "tomosnake.mesh_preview/1"
    assert [p["name"] for p in record["phases"]] == ["pore", "nmc"]
    assert record["phases"][1]["color"] == phase_hex("nmc")
    verts, faces = unpack_preview(record)["nmc"]
    ball = trimesh.Trimesh(verts, faces, process=False)
    assert ball.is_watertight
    assert ball.volume == pytest.approx(nmc.volume, rel=0.05 * record["step"])
    assert len(json.dumps(record)) <= PREVIEW_BUDGET


def test_meshes_fit_their_budgets(tmp_path):
    """A small budget makes marching cubes sample coarser until the files fit."""
    labels = _ball((60, 60, 60), (30, 30, 30), 25.0) * 2
    write_volume(tmp_path / "l.zarr", labels, {"phases": {"pore": 0, "nmc": 2}})
    full = export_meshes(tmp_path / "l.zarr", tmp_path / "full")
    ply_total = sum((tmp_path / "full" / f).stat().st_size for f in full["ply"].values())
    small = export_meshes(tmp_path / "l.zarr", tmp_path / "small", max_bytes=ply_total // 5,
                          preview_max_bytes=60_000)
    assert full["step"] == 1 and small["step"] >= 2
    total = sum((tmp_path / "small" / f).stat().st_size for f in small["ply"].values())
    assert total <= ply_total // 5
    preview = json.loads((tmp_path / "small" / "preview.json").read_text())
    assert sum(len(p["positions"]) + len(p["indices"]) for p in preview["phases"]) <= 60_000
    # coarser, but still the same ball (no voxel size: lengths in voxels)
    verts, faces = unpack_preview(preview)["nmc"]
    assert trimesh.Trimesh(verts, faces, process=False).volume == pytest.approx(
        4 / 3 * np.pi * 25**3, rel=0.12
    )
    with pytest.raises(ConfigError, match="budget must be positive"):
        export_meshes(tmp_path / "l.zarr", tmp_path / "x", max_bytes=0)


def test_meshes_from_an_ome_zarr_level(tmp_path):
    """A pyramid level (no attributes of its own) with the voxel size of that level."""
    labels = _ball() * 2
    write_volume(tmp_path / "r.zarr", labels.astype(np.float32), {"voxel_size_um": 0.1})
    write_volume(tmp_path / "l.zarr", labels, {"phases": {"pore": 0, "nmc": 2},
                                               "voxel_size_um": 0.1})
    store = write_ome_zarr(tmp_path / "r.zarr", tmp_path / "l.zarr", tmp_path / "s.ome.zarr")
    out = export_meshes(store / "labels" / "phases" / "1", tmp_path / "m")
    assert out["voxel_size_um"] == pytest.approx(0.2) and set(out["ply"]) == {"pore", "nmc"}
    nmc = trimesh.load(tmp_path / "m" / "nmc.ply", process=False)
    assert nmc.volume == pytest.approx(4 / 3 * np.pi * 1.5**3, rel=0.08)


def test_real_electrode_meshes_enclose_the_phase_volume(shared_data):
    """TauFactor's real NMC electrode: each phase's surface is closed and holds its voxels."""
    vol = tifffile.imread(shared_data / "morphology" / "electrode_taufactor.tiff")[:64, :64, :64]
    for code in (0, 85, 170):  # pore, NMC, CBD
        verts, faces = phase_mesh(vol, code, 1.0, 1)
        counts = _edge_counts(faces)
        assert (counts % 2 == 0).all()  # no boundary edge: closed (possibly touching) shells
        volume = trimesh.Trimesh(verts, faces, process=False).volume
        voxels = int((vol == code).sum())
        # marching cubes cuts voxel corners: thin CBD loses most, compact phases least
        assert 0.88 * voxels < volume < 1.01 * voxels


def test_surfaces_figure_in_phase_colours():
    labels = _ball() * 2
    labels[:5] = 1
    fig = surfaces_figure(labels, {"pore": 0, "cbd": 1, "nmc": 2}, 0.5)
    image = np.frombuffer(figure_bytes(fig, "png"), np.uint8)
    import matplotlib.pyplot as plt

    rgb = plt.imread(io.BytesIO(image.tobytes()), format="png")[..., :3]
    plt.close(fig)
    assert [ax.get_title() for ax in fig.axes] == ["pore", "cbd", "nmc"]
    # every phase's colour is on the image (shaded: hue kept, lightness varies)
    for name in ("pore", "cbd", "nmc"):
        target = np.array(phase_color(name))
        dist = np.abs(rgb / rgb.max(axis=-1, keepdims=True).clip(1e-3)
                      - target / target.max()).sum(axis=-1)
        assert (dist < 0.15).sum() > 2000, name
