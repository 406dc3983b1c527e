"""Surface and interfacial areas by marching cubes on a smoothed phase mask.

Each phase mask (1 inside, 0 outside) is blurred with a radius-1 ball (the 7-voxel
cross, normalised; porespy's ``mesh_region`` default) and meshed with marching cubes
at level 0.5 (scikit-image). The smoothing removes most of the staircase excess of raw
voxel meshes: a sphere of radius >= 8 voxels comes within 1.5 % of 4 pi r^2.

Interfaces between phases i and j come from the areas of the masks:
``A_ij = (S_i + S_j - S_{i u j}) / 2``; for three phases filling the volume
``S_{i u j} = S_k`` and this is ``(S_i + S_j - S_k) / 2``.

By default the cut faces of the sample box are not surface (``closed=False``: the
mask is extended by edge replication, the mesh stays open there and ends on the box
faces). ``closed=True``
pads the mask with zeros first, as porespy's ``region_surface_areas`` does, so the
box faces of a phase count.

Areas are summed over blocks (zarr chunks via dask, with a 2-voxel halo); each
marching cube belongs to exactly one block, so the chunked sum equals the
in-memory result up to rounding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import scipy.ndimage as ndi
from skimage import measure

from tomosnake.morph.blocks import as_dask, check_labels, is_chunked

HALO = 2
_BALL1 = ndi.generate_binary_structure(3, 1).astype(np.float32) / 7.0


def _block_area(
    mask: np.ndarray, lo_edge: Sequence[bool], hi_edge: Sequence[bool], closed: bool
) -> float:
    """Marching-cubes area (voxel units) of the cubes owned by a block padded by HALO.

    Open box faces (``closed=False``): the cubes between the outermost voxel centres and
    the edge-replicated plane beyond them reach the box face, half a voxel out; their
    triangles count half (a quarter on box edges, an eighth in corners), so a flat
    interface crossing the box gets exactly its voxel-face area.
    """
    smooth = ndi.convolve(mask.astype(np.float32), _BALL1, mode="nearest")
    region, half_lo, half_hi = [], [], []
    for n, lo, hi in zip(mask.shape, lo_edge, hi_edge, strict=True):
        start = 0 if (lo and closed) else (HALO - 1 if lo else HALO)
        stop = n if (hi and closed) else n - HALO + 1
        region.append(slice(start, stop))
        half_lo.append(lo and not closed)
        half_hi.append(hi and not closed)
    sub = smooth[tuple(region)]
    if min(sub.shape) < 2 or not (sub.min() < 0.5 < sub.max()):
        return 0.0
    verts, faces, _, _ = measure.marching_cubes(sub, 0.5)
    tri = verts[faces]
    areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    cube = np.floor(tri.mean(axis=1)).astype(np.int64)
    weight = np.ones(len(areas))
    for k in range(3):
        last = sub.shape[k] - 2
        idx = np.clip(cube[:, k], 0, last)
        if half_lo[k]:
            weight[idx == 0] *= 0.5
        if half_hi[k]:
            weight[idx == last] *= 0.5
    return float(areas @ weight)


def _pad_mode(closed: bool) -> dict[str, Any]:
    return {"mode": "constant", "constant_values": 0} if closed else {"mode": "edge"}


def mask_area(mask: Any, closed: bool = False) -> float:
    """Surface area (in voxel faces, i.e. voxel_size^2 units) of a boolean (z, y, x) mask.

    ``mask`` may be numpy (in memory) or dask (summed block by block).
    """
    if isinstance(mask, np.ndarray):
        padded = np.pad(mask.astype(np.uint8), HALO, **_pad_mode(closed))
        return _block_area(padded, (True,) * 3, (True,) * 3, closed)
    import dask.array as da

    nblocks = mask.numblocks
    boundary = 0 if closed else "nearest"
    over = da.overlap.overlap(mask.astype(np.uint8), depth=HALO, boundary=boundary)

    def per_block(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        loc = block_info[0]["chunk-location"]
        lo = [i == 0 for i in loc]
        hi = [i == n - 1 for i, n in zip(loc, nblocks, strict=True)]
        return np.full((1, 1, 1), _block_area(block, lo, hi, closed))

    areas = over.map_blocks(per_block, chunks=(1, 1, 1), dtype=np.float64)
    return float(areas.sum().compute())


def _mask(labels: Any, codes: tuple[int, ...]) -> Any:
    if is_chunked(labels):
        dl = as_dask(labels)
        return dl.map_blocks(np.isin, np.array(codes), dtype=bool)
    return np.isin(labels, codes)


def surface_areas(
    labels: Any,
    phases: Mapping[str, int],
    voxel_size_um: float,
    closed: bool = False,
) -> dict[str, Any]:
    """Surface area of each phase and interfacial area of each phase pair, in µm².

    ``labels`` (z, y, x) integer array (numpy, zarr or dask); ``phases`` maps names to
    label codes; ``voxel_size_um`` the (isotropic) voxel edge in µm.
    Returns ``{"area_um2": {name: S}, "specific_surface_um-1": {name: S / V_total},
    "interface_area_um2": {"a|b": A_ab}, "specific_interface_um-1": {"a|b": A_ab / V_total}}``
    where V_total is the whole sample volume in µm³ and pair keys are sorted names.
    """
    check_labels(labels)
    names = list(phases)
    scale = float(voxel_size_um) ** 2
    cache: dict[frozenset[int], float] = {}
    all_codes = frozenset(phases.values())
    covered = None

    def area(codes: frozenset[int]) -> float:
        nonlocal covered
        if codes not in cache:
            rest = all_codes - codes
            if len(rest) == 1 and frozenset(rest) in cache:
                if covered is None:  # complement identity needs labels = listed phases only
                    covered = _only_listed(labels, tuple(all_codes))
                if covered and not closed:
                    cache[codes] = cache[frozenset(rest)]
                    return cache[codes]
            cache[codes] = mask_area(_mask(labels, tuple(sorted(codes))), closed) * scale
        return cache[codes]

    per_phase = {name: area(frozenset([phases[name]])) for name in names}
    interfaces = {}
    for a, b in combinations(sorted(names), 2):
        union = frozenset([phases[a], phases[b]])
        interfaces[f"{a}|{b}"] = max(0.0, 0.5 * (per_phase[a] + per_phase[b] - area(union)))
    volume = float(np.prod(labels.shape)) * float(voxel_size_um) ** 3
    return {
        "area_um2": per_phase,
        "specific_surface_um-1": {k: v / volume for k, v in per_phase.items()},
        "interface_area_um2": interfaces,
        "specific_interface_um-1": {k: v / volume for k, v in interfaces.items()},
        "closed": closed,
    }


def _only_listed(labels: Any, codes: tuple[int, ...]) -> bool:
    from tomosnake.morph.fractions import phase_voxel_counts

    counts = phase_voxel_counts(labels, {str(c): c for c in codes})
    return sum(counts.values()) == int(np.prod(labels.shape))
