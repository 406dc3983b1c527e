"""Phase surfaces: marching cubes on label volumes, within a size budget; PLY and web previews.

Meshes are in micrometres, vertex columns (x, y, z) as viewers expect, faces
wound so normals point out of the phase. Label volumes are (z, y, x) uint8, given as
a path (zarr store, OME-Zarr pyramid level, TIFF) or an array; they are read in z-slabs
or strided planes, so memory stays bounded whatever their size. Surfaces are closed:
the volume is treated as surrounded by "not this phase".

:func:`export_meshes` writes one binary PLY per phase (for ParaView, napari, Avizo,
Blender) whose total size stays under ``max_bytes`` by sampling every ``step``-th voxel
(memory: about three times ``max_bytes`` while meshing, plus one slab of labels),
and ``preview.json``: coarser meshes, quantised to uint16 positions and base64 encoded,
for the report's embedded 3-D viewer, under ``preview_bytes``.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from skimage.measure import marching_cubes

from tomosnake.errors import ConfigError
from tomosnake.io import atomic_output
from tomosnake.progress import track
from tomosnake.viz.inputs import open_level, parse_phases, positive
from tomosnake.viz.style import phase_color, phase_hex

#: default size budgets (bytes): all PLY files of a scan; the embedded preview (base64)
PLY_BUDGET = 128 * 2**20
PREVIEW_BUDGET = int(1.5 * 2**20)
#: schema of preview.json
PREVIEW_SCHEMA = "tomosnake.mesh_preview/1"
#: the size probe reads a copy of the labels strided to about this many samples per axis
PROBE_SAMPLES = 128
#: the preview is meshed from a copy strided to at most this many samples per axis
PREVIEW_MAX_SAMPLES = 256


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


def ply_bytes(n_vertices: int, n_faces: int) -> int:
    """Size of a binary PLY body: float32 x/y/z vertices, uchar-count int32 triangles."""
    return 12 * n_vertices + 13 * n_faces


def preview_bytes(n_vertices: int, n_faces: int) -> int:
    """Base64 size of a preview mesh: uint16 x/y/z positions, uint16/uint32 indices."""
    index = 2 if n_vertices < 2**16 else 4
    return -(-(6 * n_vertices) // 3) * 4 + -(-(3 * index * n_faces) // 3) * 4


def strided_copy(labels: Any, step: int) -> np.ndarray:
    """``labels[::step, ::step, ::step]`` read plane by plane (a strided read of the whole
    store at once would hold far more than the result)."""
    return np.stack(
        [np.asarray(labels[z, ::step, ::step]) for z in range(0, labels.shape[0], step)]
    )


def _probe(labels: Any, phases: Mapping[str, int]) -> tuple[int, dict, float]:
    """A small strided copy of the labels: its stride, each phase's mesh on it (copy voxel
    units), and how fast mesh size falls with the step (exponent k of size ~ step**-k)."""
    step = max(1, int(np.ceil(max(labels.shape) / PROBE_SAMPLES)))
    coarse = strided_copy(labels, step)
    meshes = {name: phase_mesh(coarse, code, 1.0, 1) for name, code in phases.items()}
    fine = sum(len(f) for _, f in meshes.values())
    half = sum(len(phase_mesh(coarse[::2, ::2, ::2], c, 1.0, 1)[1]) for c in phases.values())
    # smooth surfaces shrink with the step squared; noise-like phases (each sample its own
    # surface) with its cube
    k = float(np.clip(np.log2(fine / half), 2.0, 3.0)) if fine and half else 2.0
    return step, meshes, k


def _step_for(
    step0: int, counts: Mapping[str, tuple[int, int]], k: float, size, budget: int, minimum: int
) -> int:
    """Sampling step predicted to bring ``sum(size(v, f))`` under ``budget``.

    Mesh sizes measured at ``step0`` scale as step**-k to predict any other step.
    """
    total = sum(size(v, f) for v, f in counts.values())
    if total <= 0:
        return minimum
    return max(minimum, int(np.ceil(step0 * (total / budget) ** (1 / k) - 1e-9)))


def budget_meshes(
    labels: Any,
    phases: Mapping[str, int],
    voxel_um: float,
    budget: int,
    size=ply_bytes,
    step: int = 1,
    coarse: bool = False,
    probe: tuple[int, dict, float] | None = None,
) -> tuple[int, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Meshes of every phase whose total ``size(n_vertices, n_faces)`` is under ``budget``.

    Starts at the step predicted by :func:`_probe` (at least ``step``) and grows it until
    the meshes fit. ``coarse`` meshes a strided copy of the labels (fast, for previews);
    otherwise :func:`phase_mesh` samples the labels slab by slab. ``probe`` reuses a
    :func:`_probe` of the same labels. Returns (step, meshes).
    """
    if budget <= 0:
        raise ConfigError(f"mesh size budget must be positive, got {budget} bytes")
    step0, probe_meshes, k = probe or _probe(labels, phases)
    counts = {name: (len(v), len(f)) for name, (v, f) in probe_meshes.items()}
    step = _step_for(step0, counts, k, size, budget, step)
    if coarse:
        step = max(step, int(np.ceil(max(labels.shape) / PREVIEW_MAX_SAMPLES)))
    for _ in range(8):
        if step == step0:  # the probe sampled the same voxels: reuse it
            scale = np.float32(voxel_um * step0)
            meshes = {n: (v * scale, f) for n, (v, f) in probe_meshes.items()}
        elif coarse:
            small = strided_copy(labels, step)
            meshes = {n: phase_mesh(small, c, voxel_um * step, 1) for n, c in phases.items()}
        else:
            meshes = {n: phase_mesh(labels, c, voxel_um, step) for n, c in phases.items()}
        total = sum(size(len(v), len(f)) for v, f in meshes.values())
        if total <= budget:
            return step, meshes
        step = max(step + 1, int(np.ceil(step * np.sqrt(total / budget) * 1.02)))
    raise ConfigError(
        f"could not mesh the labels within {budget} bytes (step {step}); raise the budget"
    )


def pack_preview(
    meshes: Mapping[str, tuple[np.ndarray, np.ndarray]], phases: Mapping[str, int]
) -> dict[str, Any]:
    """The meshes as a ``preview.json`` record for the report's WebGL viewer.

    Positions are quantised to uint16 over the common bounding box ``lo``..``hi`` (µm),
    indices are uint16 (fewer than 65536 vertices) or uint32, all little-endian base64.
    """
    nonempty = {k: m for k, m in meshes.items() if len(m[1])}
    if nonempty:
        allv = np.concatenate([v for v, _ in nonempty.values()])
        lo, hi = allv.min(axis=0).astype(float), allv.max(axis=0).astype(float)
    else:
        lo, hi = np.zeros(3), np.ones(3)
    span = np.where(hi > lo, hi - lo, 1.0)
    out = []
    order = list(phases)
    for name, (verts, faces) in nonempty.items():
        q = np.round((verts - lo) / span * 65535).astype("<u2")
        idx = faces.astype("<u2" if len(verts) < 2**16 else "<u4")
        out.append(
            {
                "name": name,
                "code": int(phases[name]),
                "color": phase_hex(name, order.index(name)),
                "n_vertices": int(len(verts)),
                "n_faces": int(len(faces)),
                "index_bytes": int(idx.itemsize),
                "positions": base64.b64encode(q.tobytes()).decode("ascii"),
                "indices": base64.b64encode(idx.tobytes()).decode("ascii"),
            }
        )
    return {
        "schema": PREVIEW_SCHEMA,
        "units": "um",
        "lo": [float(x) for x in lo],
        "hi": [float(x) for x in hi],
        "phases": out,
    }


def unpack_preview(record: Mapping[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Phase -> (vertices (n, 3) µm, faces (m, 3)) of a ``preview.json`` record."""
    lo, hi = np.asarray(record["lo"]), np.asarray(record["hi"])
    out = {}
    for p in record["phases"]:
        q = np.frombuffer(base64.b64decode(p["positions"]), "<u2").reshape(-1, 3)
        dtype = "<u2" if p["index_bytes"] == 2 else "<u4"
        faces = np.frombuffer(base64.b64decode(p["indices"]), dtype).reshape(-1, 3)
        out[p["name"]] = (lo + q / 65535 * np.where(hi > lo, hi - lo, 1.0), faces.astype(np.int64))
    return out


def export_meshes(
    labels: str | os.PathLike[str] | Any,
    out_dir: str | os.PathLike[str],
    *,
    max_bytes: int = PLY_BUDGET,
    preview_max_bytes: int = PREVIEW_BUDGET,
    step_size: int = 1,
    voxel_size_um: float | None = None,
    phases: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Write ``{phase}.ply`` per phase (binary, micrometres) and ``preview.json`` into ``out_dir``.

    ``labels``: (z, y, x) label volume: a path (zarr store, OME-Zarr level such as
    ``scan.ome.zarr/labels/phases/1``, TIFF) or an array. ``max_bytes``: budget of all PLY
    files together; ``preview_max_bytes``: budget of the embedded preview (base64).
    Marching cubes samples every ``step``-th voxel (at least ``step_size``), the smallest
    step that fits. ``voxel_size_um``/``phases`` override the volume's attributes.
    Returns {"ply": {phase: file name}, "preview": "preview.json", "step": int,
    "preview_step": int, "voxel_size_um": float}.
    """
    if step_size < 1:
        raise ConfigError(f"step_size must be a positive integer, got {step_size}")
    vol, attrs, name = open_level(labels, "labels")
    phases = dict(phases) if phases else parse_phases(attrs, name)
    voxel = positive(voxel_size_um) or positive(attrs.get("voxel_size_um")) or 1.0
    out_dir = Path(out_dir)
    probe = _probe(vol, phases)
    step, meshes = budget_meshes(vol, phases, voxel, max_bytes, ply_bytes, step_size, probe=probe)
    written: dict[str, str] = {}
    for phase, (verts, faces) in track(list(meshes.items()), "writing meshes"):
        if not len(faces):
            continue
        comment = (
            f"tomosnake surface of phase {phase} (label {phases[phase]}) of {name}\n"
            f"units micrometre, voxel_size_um {voxel}, marching cubes step {step}"
        )
        write_ply(out_dir / f"{phase}.ply", verts, faces, comment)
        written[phase] = f"{phase}.ply"
    del meshes
    pstep, small = budget_meshes(
        vol, phases, voxel, preview_max_bytes, preview_bytes, step, coarse=True, probe=probe
    )
    record = pack_preview(small, phases)
    record.update({"step": pstep, "voxel_size_um": voxel, "source": name})
    with atomic_output(out_dir / "preview.json") as tmp:
        tmp.write_text(json.dumps(record))
    return {"ply": written, "preview": "preview.json", "step": step, "preview_step": pstep,
            "voxel_size_um": voxel}


def surfaces_figure(labels: Any, phases: Mapping[str, int], voxel_um: float | None):
    """Rendered surfaces of every phase (one panel each) from a coarse copy of the labels.

    The copy has about 64 samples per axis; a surface over 10 000 triangles is meshed
    with larger marching-cubes steps. Surfaces are rasterised in the SVG (axes stay vector).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LightSource
    from matplotlib.ticker import MaxNLocator
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    from tomosnake.viz.style import DOUBLE, print_style

    step = max(1, int(np.ceil(max(labels.shape) / 64)))
    coarse = strided_copy(labels, step)
    voxel = (voxel_um or 1.0) * step
    unit = "µm" if voxel_um else "voxel"
    nz, ny, nx = labels.shape
    extent = np.array([nx, ny, nz]) * (voxel_um or 1.0)
    light = LightSource(azdeg=315, altdeg=45)
    n = max(len(phases), 1)
    with print_style():
        fig = plt.figure(figsize=(DOUBLE, DOUBLE / n + 0.5), layout="constrained")
        for k, (name, code) in enumerate(phases.items()):
            mc_step = 1
            verts, faces = phase_mesh(coarse, code, voxel, mc_step)
            while len(faces) > 10_000 and mc_step < max(coarse.shape) // 4:
                mc_step += 1
                verts, faces = phase_mesh(coarse, code, voxel, mc_step)
            ax = fig.add_subplot(1, n, k + 1, projection="3d")
            if len(faces):
                poly = Poly3DCollection(verts[faces], facecolors=phase_color(name, k), shade=True,
                                        lightsource=light, linewidths=0)
                poly.set_rasterized(True)
                ax.add_collection3d(poly)
            ax.set(xlim=(0, extent[0]), ylim=(0, extent[1]), zlim=(0, extent[2]))
            ax.set_box_aspect(tuple(extent), zoom=0.85)
            ax.set_xlabel(f"x ({unit})")
            ax.set_ylabel(f"y ({unit})")
            ax.set_zlabel(f"z ({unit})")
            ax.tick_params(labelsize=6, pad=0)
            for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
                axis.set_major_locator(MaxNLocator(3))
            ax.set_title(name)
        fig.suptitle("phase surfaces").set_gid("title")
    return fig
