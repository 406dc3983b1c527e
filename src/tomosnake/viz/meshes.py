"""Phase surfaces: marching cubes on label volumes, PLY export, and offscreen renders.

Meshes are in micrometres, vertex columns (x, y, z) as viewers expect, faces
wound so normals point out of the phase. Label volumes are (z, y, x) uint8.
Surfaces are closed: the volume is treated as surrounded by "not this phase".
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from skimage.measure import marching_cubes

from tomosnake.errors import ConfigError
from tomosnake.io import atomic_output
from tomosnake.progress import track
from tomosnake.viz.inputs import open_3d, phase_color, phases_of, voxel_size_um


def _padded_mask(labels: Any, code: int, a: int, b: int, step: int) -> np.ndarray:
    """Phase mask of padded z-planes a..b (inclusive) of ``labels``, padded by ``step`` voxels.

    Padded coordinates are original + ``step``; the pad is "not this phase" and the far
    end is padded so the last sample of every axis (a multiple of ``step``) lies in it.
    """
    nz, ny, nx = labels.shape
    lo, hi = max(a - step, 0), min(b - step + 1, nz)
    pad_y, pad_x = (_far_pad(n, step) for n in (ny, nx))
    mask = np.zeros((b - a + 1, ny + step + pad_y, nx + step + pad_x), dtype=np.float32)
    if lo < hi:
        mask[lo + step - a : hi + step - a, step : step + ny, step : step + nx] = (
            np.asarray(labels[lo:hi]) == code
        )
    return mask


def _far_pad(n: int, step: int) -> int:
    """Planes appended after ``n`` data planes (plus ``step`` leading ones) to end on a sample."""
    last = -(-(n + step) // step) * step  # first multiple of step at or after the data's end
    return last + 1 - step - n


def _merge_seams(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge the vertices that neighbouring slabs both made on their shared plane.

    Those copies are bit-identical, so vertices are keyed on a 1/64-voxel grid (distinct
    marching-cubes vertices are at least 1/2 voxel apart, or inside a cube for ambiguous
    cases, never within 1/64 of another).
    """
    q = np.round(verts * 64).astype(np.int64)
    q -= q.min(axis=0)
    span = q.max(axis=0) + 1
    key = (q[:, 0] * span[1] + q[:, 1]) * span[2] + q[:, 2]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return verts[first], inverse.reshape(-1)[faces]


def phase_mesh(
    labels: Any, code: int, voxel_um: float = 1.0, step_size: int = 2, slab_bytes: int = 2**28
) -> tuple[np.ndarray, np.ndarray]:
    """Closed surface of the voxels equal to ``code``: (vertices (n, 3) x/y/z in um, faces (m, 3)).

    Marching cubes (level 0.5 of the phase mask) samples every ``step_size``-th voxel
    (decimation). The volume is processed in z-slabs of about ``slab_bytes`` bytes of
    float32 mask; vertices shared across slab seams are merged.
    """
    if step_size < 1:
        raise ConfigError(f"step_size must be a positive integer, got {step_size}")
    nz, ny, nx = labels.shape
    plane = 4 * (ny + 2 * step_size + 1) * (nx + 2 * step_size + 1)
    per_slab = max(1, slab_bytes // plane // step_size) * step_size
    end = nz + step_size + _far_pad(nz, step_size) - 1  # last padded plane index
    verts, faces, offset = [], [], 0
    for a in range(0, end, per_slab):
        b = min(a + per_slab, end)
        mask = _padded_mask(labels, code, a, b, step_size)
        if not mask.any():
            continue
        v, f, _, _ = marching_cubes(mask, 0.5, step_size=step_size, allow_degenerate=False)
        v[:, 0] += a
        verts.append(v - step_size)
        faces.append(f + offset)
        offset += len(v)
    if not verts:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
    v, f = np.concatenate(verts), np.concatenate(faces)
    if len(verts) > 1:
        v, f = _merge_seams(v, f)
    # marching cubes winds (z, y, x) faces inward; reversing the axes to (x, y, z) mirrors
    # the mesh, which turns them outward
    return (v[:, ::-1] * voxel_um).astype(np.float32), f


def write_ply(
    path: str | os.PathLike[str], verts: np.ndarray, faces: np.ndarray, comment: str = ""
) -> Path:
    """Write a binary little-endian PLY (float32 x/y/z vertices, int32 triangles), atomically."""
    path = Path(path)
    faces = np.asarray(faces)
    header = ["ply", "format binary_little_endian 1.0"]
    header += [f"comment {line}" for line in comment.splitlines() if line]
    header += [
        f"element vertex {len(verts)}",
        "property float x",
        "property float y",
        "property float z",
        f"element face {len(faces)}",
        "property list uchar int vertex_indices",
        "end_header",
    ]
    face_rec = np.empty(len(faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    face_rec["n"] = 3
    face_rec["idx"] = faces
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode("ascii"))
        fh.write(np.ascontiguousarray(verts, dtype="<f4").tobytes())
        fh.write(face_rec.tobytes())
    return path


def export_meshes(
    labels_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], step_size: int = 2
) -> dict[str, str]:
    """Write one closed surface per phase as ``{out_dir}/{phase}.ply`` (binary PLY, micrometres).

    Opens in ParaView, Avizo, Dragonfly, MeshLab, Blender. ``step_size`` decimates
    marching cubes (voxels between samples). Returns phase name -> file name
    relative to ``out_dir``; phases absent from the volume get no file.
    """
    labels = open_3d(labels_path, "labels")
    phases = phases_of(labels, labels_path)
    voxel = voxel_size_um(labels) or 1.0
    out_dir = Path(out_dir)
    written = {}
    for name, code in track(list(phases.items()), "meshing phases"):
        verts, faces = phase_mesh(labels, code, voxel, step_size)
        if not len(faces):
            continue
        comment = (
            f"tomosnake surface of phase {name} (label {code}) of {labels_path}\n"
            f"units micrometre, voxel_size_um {voxel}, marching cubes step_size {step_size}"
        )
        write_ply(out_dir / f"{name}.ply", verts, faces, comment)
        written[name] = f"{name}.ply"
    return written


def iter_render_meshes(
    labels: Any, max_samples: int = 80, max_faces: int = 100_000
) -> Iterator[tuple[str, int, tuple]]:
    """(phase, index, (verts, faces)) of coarse meshes to render.

    The volume is sampled at about ``max_samples`` voxels per axis; a phase whose
    surface still has more than ``max_faces`` triangles is meshed with larger
    marching-cubes steps until it has fewer (matplotlib draws every triangle).
    """
    step = max(1, int(np.ceil(max(labels.shape) / max_samples)))
    # plane by plane: a strided read of the whole store would hold far more than the result
    coarse = np.stack(
        [np.asarray(labels[z])[::step, ::step] for z in range(0, labels.shape[0], step)]
    )
    voxel = (voxel_size_um(labels) or 1.0) * step
    for i, (name, code) in enumerate(phases_of(labels).items()):
        mc_step = 1
        mesh = phase_mesh(coarse, code, voxel, step_size=mc_step)
        while len(mesh[1]) > max_faces and mc_step < max(coarse.shape) // 4:
            mc_step += 1
            mesh = phase_mesh(coarse, code, voxel, step_size=mc_step)
        yield name, i, mesh


def render_surfaces(labels: Any, path: str | os.PathLike[str], title: str = "") -> Path:
    """Render every phase's surface (one panel each, offscreen matplotlib) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LightSource
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    meshes = list(iter_render_meshes(labels))
    fig = plt.figure(figsize=(4.2 * max(len(meshes), 1), 4.4), dpi=100)
    nz, ny, nx = labels.shape
    voxel = voxel_size_um(labels) or 1.0
    extent = np.array([nx, ny, nz]) * voxel
    light = LightSource(azdeg=315, altdeg=45)
    for k, (name, i, (verts, faces)) in enumerate(meshes):
        ax = fig.add_subplot(1, len(meshes), k + 1, projection="3d")
        if len(faces):
            poly = Poly3DCollection(
                verts[faces],
                facecolors=phase_color(name, i),
                shade=True,
                lightsource=light,
                linewidths=0,
            )
            ax.add_collection3d(poly)
        ax.set(xlim=(0, extent[0]), ylim=(0, extent[1]), zlim=(0, extent[2]))
        ax.set_box_aspect(tuple(extent))
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("y (µm)")
        ax.set_zlabel("z (µm)")
        ax.tick_params(labelsize=7)
        ax.set_title(f"{name} ({len(faces)} triangles)", fontsize=10)
    if title:
        fig.suptitle(title)
    path = Path(path)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
