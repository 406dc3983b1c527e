"""Size distributions: local thickness of a phase and separated particles (watershed).

Local thickness (porespy's ``local_thickness(method="legacy")``, made exact): each voxel
of the phase gets the diameter of the largest ball that fits inside the phase and
covers it. Balls are tried for ``n_sizes`` radii, log-spaced from the largest value of
the distance map down to 1 voxel; each try is one Euclidean distance transform (edt).

Conventions, so that the answer is defined voxel for voxel and a reference can check it:

- Distances are between voxel centres. The distance map of a phase voxel is its
  distance to the nearest voxel of another phase **inside the volume and inside the
  sample region**: the volume border and the sample's outer boundary are windows onto
  material that goes on, not walls (edt's ``black_border=False``), so a ball may reach
  beyond them. This is the convention of porespy's legacy method; a cut face of a
  sub-volume, slab or FIB pillar is not a pore wall.
- A ball of radius r is centred on every phase voxel whose distance is >= r and covers
  the voxels at distance < r from its centre.
- The radii are ``r_0 = max(distance)`` and ``r_k = r_0 ** (1 - k / (n_sizes - 1))``.
  All comparisons are made on squared distances, which are integers on the voxel
  lattice (``edt.edtsq``), against integer thresholds (``d^2 >= r^2`` and ``d^2 < r^2``
  with ``r^2`` taken as the integer it is within 1e-6 of), so the result does not
  depend on how the platform rounds ``10 ** log10(x)``. (porespy computes ``r_0`` as
  ``10 ** log10(max)`` and compares square roots: whether the largest ball, whose
  centre lies on the volume border in a window convention, is placed at all then
  depends on the last bit of that rounding, which is what made the porespy comparison
  test fail on another machine.)

Whole volumes are done block by block with a halo (blocks sized so that block plus
halo hold about ``slab_voxels`` voxels, flatter and wider for volumes of few planes;
a block's core is at least twice the halo, so a coarse structure takes more memory
rather than many times the work), so memory is bounded by the budget and the
structure's size, not by the volume:
pass 1 finds the largest distance (a block's halo grows until its values are exact),
pass 2 computes the local thickness of each block with a halo of ``2 r_0 + 1`` voxels,
enough for every ball that can reach the block, so the blocks give exactly the
whole-volume result. Both passes read each block once for all phases (and pass 2 for the
particles as well, below: :func:`size_passes`), with the largest halo any phase needs.

Particles (e.g. NMC): the phase is split into particles by a marker-controlled
watershed (scikit-image) of the negated distance map, with one marker per regional
maximum of the distance map higher than ``h`` voxels above its surroundings
(h-maxima); each particle's equivalent diameter is that of the sphere of equal volume,
``(6 V / pi) ** (1/3)``. Block by block, each particle is counted by the block holding
the corner of its marker's bounding box, segmented with a fixed halo of ``4 r_0 + 2``
voxels (``r_0``: the largest inscribed-ball radius of the phase), so a job's memory is
known in advance; particles longer than that which reach the halo's cut face are
counted as cut and reported as ``n_truncated`` (0 when the volume is one block).
Flooding ties (plateaus of the distance map) are broken by voxel position, so blocks
flood like the whole volume.

All diameters are in µm (voxel size times voxel counts); distributions are
volume-weighted (local thickness) or number-weighted (particles).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import edt
import numpy as np
from scipy import ndimage as ndi

from tomosnake import threads
from tomosnake.morph.blocks import Box, block_shape, boxes, check_labels, clip, grow
from tomosnake.morph.sample import Region

#: radius r: squared distances within this of an integer count as that integer
_TIE = 1e-6
_FIRST_HALO = 8


def radii(max_distance_sq: float, n_sizes: int = 25) -> np.ndarray:
    """Trial radii (voxels, descending): ``sqrt(max_distance_sq)`` down to 1, log-spaced."""
    r0 = math.sqrt(max(float(max_distance_sq), 1.0))
    out = np.unique(np.geomspace(r0, 1.0, max(int(n_sizes), 1)))[::-1].copy()
    out[0] = r0
    return out


def _seed_threshold(r: float) -> float:
    """Smallest integer squared distance d^2 with d >= r."""
    return float(math.ceil(r * r - _TIE))


def _distance_sq(phase: np.ndarray, within: np.ndarray | None) -> np.ndarray:
    """Squared distance (float32, exact integers) of each phase voxel to other phases.

    Voxels outside ``within`` are neither phase nor background (not walls); 0 off-phase.
    """
    fg = phase if within is None else phase | ~within
    dsq = edt.edtsq(np.ascontiguousarray(fg), black_border=False, parallel=threads.current())
    if within is not None:
        dsq[~(phase & within)] = 0
    return dsq


def local_thickness(
    mask: np.ndarray,
    n_sizes: int = 25,
    within: np.ndarray | None = None,
    trial_radii: Sequence[float] | None = None,
) -> np.ndarray:
    """Local thickness *diameter* (voxels, float32) of each voxel of a boolean (z, y, x) mask.

    ``within``: the sample region (None: all of it); voxels outside it get 0 and are
    windows, not walls (module docstring). ``trial_radii``: the radii to try, descending
    (default :func:`radii` of the largest distance). A phase without any other-phase
    voxel in reach has no finite thickness: its voxels get ``inf``.
    """
    phase = np.ascontiguousarray(mask, dtype=bool)
    if within is not None:
        within = np.ascontiguousarray(within, dtype=bool)
    out = np.zeros(phase.shape, dtype=np.float32)
    inside = phase if within is None else phase & within
    if not inside.any():
        return out
    dsq = _distance_sq(phase, within)
    top = float(dsq.max())
    if not math.isfinite(top):
        out[inside] = np.inf
        return out
    rs = radii(top, n_sizes) if trial_radii is None else np.asarray(trial_radii, dtype=float)
    todo = inside.copy()
    last = None
    for r in rs:
        t = _seed_threshold(float(r))
        if t == last:  # same integer threshold as the larger radius before: nothing new
            continue
        last = t
        seeds = dsq >= t
        if not seeds.any():
            continue
        reach = edt.edtsq(~seeds, black_border=False, parallel=threads.current())
        hit = todo & (reach <= t - 1)
        out[hit] = 2 * r
        todo &= ~hit
        if not todo.any():
            break
    return out


class _Block:
    """Labels and sample mask of a box clipped to the volume, read once; phase crops of it.

    Beyond the volume there is neither phase nor background (edt's ``black_border=False``),
    exactly as if the box were padded with voxels outside the sample.
    """

    def __init__(self, labels: Any, region: Region | None, box: Box):
        self.shape = tuple(labels.shape)
        self.inner = clip(box, self.shape)
        (z0, z1), (y0, y1), (x0, x1) = self.inner
        self.lab = np.asarray(labels[z0:z1, y0:y1, x0:x1])
        if region is None or region.whole:
            self.within = np.ones(self.lab.shape, dtype=bool)
        else:
            self.within = region.mask(z0, z1, slice(y0, y1), slice(x0, x1))

    def crop(self, box: Box, code: int) -> tuple[np.ndarray, np.ndarray, Box]:
        """Phase mask and sample mask of ``box`` (inside the loaded one once clipped to the
        volume), and the clipped box."""
        inner = clip(box, self.shape)
        at = tuple(slice(a - l0, b - l0) for (a, b), (l0, _) in zip(inner, self.inner, strict=True))
        return self.lab[at] == code, self.within[at], inner


def _core(a: np.ndarray, box: Box, loaded: Box) -> np.ndarray:
    """The part of an array loaded for the box ``loaded`` that covers ``box``."""
    return a[tuple(slice(b0 - l0, b1 - l0) for (b0, b1), (l0, _) in zip(box, loaded, strict=True))]


def _exact_max_sq(top: float, halo: int, shape: tuple[int, ...]) -> bool:
    """True when a block's largest distance found with ``halo`` is exact."""
    return top <= halo * halo or halo >= max(shape)


def _block_max_sq(labels: Any, code: int, region: Region | None, box: Box, top: float) -> float:
    """Largest squared distance map value of the phase in a block (exact), when ``top``
    (found with a halo of ``_FIRST_HALO``) was not: the halo grows until it is."""
    halo = _FIRST_HALO
    while not _exact_max_sq(top, halo, labels.shape):
        # no other phase within the halo (inf), or farther than it: look farther
        halo = max(2 * halo, int(math.ceil(math.sqrt(top))) + 1 if math.isfinite(top) else 0)
        grown = grow(box, halo)
        phase, within, loaded = _Block(labels, region, grown).crop(grown, code)
        dsq = _core(_distance_sq(phase, within), box, loaded)
        top = float(dsq.max()) if dsq.size else 0.0
    return top


def max_distances_sq(
    labels: Any, codes: Sequence[int], region: Region | None = None,
    slab_voxels: int | None = None,
) -> dict[int, float]:  # fmt: skip
    """Largest squared distance (voxels^2) from a voxel of each phase to another phase.

    One read of each block for every phase; a block where a phase's distances reach past
    the first halo is read again with a larger one for that phase (coarse structures).
    """
    core = block_shape(labels.shape, slab_voxels, _FIRST_HALO)
    tops = dict.fromkeys(codes, 0.0)
    for box in boxes(labels.shape, core):
        grown = grow(box, _FIRST_HALO)
        block = _Block(labels, region, grown)
        for code in codes:
            phase, within, loaded = block.crop(grown, code)
            dsq = _core(_distance_sq(phase, within), box, loaded)
            top = float(dsq.max()) if dsq.size else 0.0
            if not _exact_max_sq(top, _FIRST_HALO, labels.shape):
                top = _block_max_sq(labels, code, region, box, top)
            tops[code] = max(tops[code], top)
    return tops


def _particle_halo(top: float, factor: int, shape: tuple[int, ...]) -> int:
    """Halo (voxels) of particle blocks: ``factor`` largest radii + 2, at most the volume."""
    if not math.isfinite(top):
        return max(shape)
    return min(factor * int(math.ceil(math.sqrt(top))) + 2, max(shape))


def _thickness_block(block: _Block, box: Box, code: int, rs: np.ndarray, halo: int) -> np.ndarray:
    """Voxel counts per trial diameter ``2 rs`` of the phase's core voxels in ``box``."""
    phase, within, loaded = block.crop(grow(box, halo), code)
    lt = _core(local_thickness(phase, within=within, trial_radii=rs), box, loaded)
    vals = lt[_core(phase & within, box, loaded)]
    idx = np.searchsorted(-2 * rs, -vals - 1e-3)  # the diameter (descending) equal to each
    return np.bincount(idx, minlength=rs.size)[: rs.size]


def size_passes(
    labels: Any,
    thickness_codes: Sequence[int],
    particle_codes: Sequence[int],
    region: Region | None = None,
    n_sizes: int = 25,
    slab_voxels: int | None = None,
    halo_factor: int = 4,
    h: float = 1.0,
) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], dict[int, tuple[np.ndarray, int]]]:
    """Local thickness of several phases and particles of others, in two reads of the labels.

    Returns ``thickness[code] = (diameters (voxels, descending), voxel counts)`` and
    ``particles[code] = (particle volumes (voxels), n_truncated)``. The first read finds
    each phase's largest distance (:func:`max_distances_sq`); the second reads blocks with
    the largest halo any phase needs and computes every phase on its own crop of them (the
    halo it needs), so each block is read once for all phases.
    """
    check_labels(labels)
    shape = tuple(labels.shape)
    tops = max_distances_sq(labels, sorted({*thickness_codes, *particle_codes}), region,
                            slab_voxels)  # fmt: skip
    thickness: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    jobs: dict[int, tuple[np.ndarray, int]] = {}
    for code in thickness_codes:
        top = tops[code]
        if top == 0.0:
            thickness[code] = (np.zeros(0), np.zeros(0, dtype=np.int64))
        elif not math.isfinite(top):
            thickness[code] = (np.array([np.inf]), np.array([1], dtype=np.int64))
        else:
            rs = radii(top, n_sizes)
            jobs[code] = (rs, 2 * int(math.ceil(rs[0])) + 1)
            thickness[code] = (2 * rs, np.zeros(rs.size, dtype=np.int64))
    part_halo = {code: _particle_halo(tops[code], halo_factor, shape) for code in particle_codes}
    volumes: dict[int, list[np.ndarray]] = {code: [] for code in particle_codes}
    truncated = dict.fromkeys(particle_codes, 0)
    halo = max([*(hl for _, hl in jobs.values()), *part_halo.values()], default=0)
    if jobs or particle_codes:
        for box in boxes(shape, block_shape(shape, slab_voxels, halo)):
            block = _Block(labels, region, grow(box, halo))
            for code, (rs, hl) in jobs.items():
                thickness[code][1][:] += _thickness_block(block, box, code, rs, hl)
            for code, hl in part_halo.items():
                vol, cut = _block_particles(block, code, box, hl, h)
                volumes[code].append(vol)
                truncated[code] += cut
    particles = {
        code: (np.concatenate(v) if v else np.zeros(0), truncated[code])
        for code, v in volumes.items()
    }
    return thickness, particles


def thickness_counts(
    labels: Any,
    code: int,
    region: Region | None = None,
    n_sizes: int = 25,
    slab_voxels: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Local thickness diameters (voxels) of a phase and the voxel count of each, by blocks."""
    return size_passes(labels, [code], [], region, n_sizes, slab_voxels)[0][code]


def _as_labels(labels: Any) -> Any:
    """A boolean mask as uint8 labels (code 1); anything else unchanged."""
    if np.dtype(getattr(labels, "dtype", np.uint8)) == np.bool_:
        return np.asarray(labels).view(np.uint8)
    return labels


def _distribution(values: np.ndarray, weights: np.ndarray | None, bins: int = 20) -> dict:
    """mean, d10/d50/d90 (weighted percentiles), histogram of ``values`` (already in µm)."""
    keep = np.isfinite(values)
    if weights is not None:
        keep &= weights > 0
    values = values[keep]
    if values.size == 0:
        return {
            "mean_um": None,
            "d10_um": None,
            "d50_um": None,
            "d90_um": None,
            "bin_edges_um": [],
            "fraction": [],
        }
    w = np.ones_like(values, dtype=np.float64) if weights is None else weights[keep]
    order = np.argsort(values)
    v, cw = values[order], np.cumsum(w[order]) / w.sum()
    quant = {
        f"d{q}_um": float(v[min(np.searchsorted(cw, q / 100), v.size - 1)]) for q in (10, 50, 90)
    }
    hist, edges = np.histogram(values, bins=bins, weights=w)
    return {
        "mean_um": float(np.average(values, weights=w)),
        **quant,
        "bin_edges_um": edges.tolist(),
        "fraction": (hist / hist.sum()).tolist(),
    }


def thickness_distribution(
    labels: Any,
    voxel_size_um: float,
    code: int = 1,
    region: Region | None = None,
    n_sizes: int = 25,
    slab_voxels: int | None = None,
) -> dict:
    """Volume-weighted distribution of local thickness diameters (µm) of a phase.

    ``labels``: a labels volume (numpy or zarr) and the phase's ``code``, or a boolean
    mask (``code`` 1).
    """
    labels = _as_labels(labels)
    diam, counts = thickness_counts(labels, code, region, n_sizes, slab_voxels)
    return _distribution(diam * voxel_size_um, counts.astype(np.float64))


def _flood_order(dt: np.ndarray, origin: tuple[int, int, int]) -> np.ndarray:
    """The watershed's flooding key: ``-dt``, ties broken by the voxel's place in the volume.

    Distance maps have wide plateaus (equal square roots of integers); the watershed
    floods equal values in queue order, which differs between a slab and the whole
    volume. A key below the smallest step between distances (1e-4 voxel), fixed by the
    voxel's (z, y, x) in the volume (``origin``: where the array starts), makes the
    flooding the same in both.
    """
    z, y, x = np.ogrid[: dt.shape[0], : dt.shape[1], : dt.shape[2]]
    z0, y0, x0 = origin
    key = ((z + z0) * 0.6180339887 + (y + y0) * 0.7548776662 + (x + x0) * 0.5698402910) % 1.0
    return -dt.astype(np.float64) + 1e-4 * key


def separate_particles(
    mask: np.ndarray, h: float = 1.0, min_voxels: int = 8, within: np.ndarray | None = None
) -> np.ndarray:
    """Particle labels (int32, 0 outside) from a watershed of the mask's distance map.

    ``h``: minimal height (voxels) of a distance-map maximum to seed its own particle;
    particles smaller than ``min_voxels`` are dropped (labels 0). ``within``: the
    sample region (outside it: not particle, and not a wall for the distance map).
    """
    from skimage.morphology import h_maxima
    from skimage.segmentation import watershed

    phase = np.ascontiguousarray(mask, dtype=bool)
    inside = phase if within is None else phase & within
    dt = np.sqrt(_distance_sq(phase, within))
    markers, _ = ndi.label(h_maxima(dt, h) & inside)
    labels = watershed(_flood_order(dt, (0, 0, 0)), markers, mask=inside).astype(np.int32)
    sizes = np.bincount(labels.ravel())
    small = np.flatnonzero(sizes < min_voxels)
    if small.size:
        labels[np.isin(labels, small)] = 0
    return labels


def _block_particles(
    block: _Block, code: int, box: Box, halo: int, h: float
) -> tuple[np.ndarray, int]:
    """Voxel counts of the particles whose marker starts in ``box``, and how many of them
    reach a cut face of the halo (truncated)."""
    from skimage.morphology import h_maxima
    from skimage.segmentation import watershed

    phase, within, ext = block.crop(grow(box, halo), code)
    inside = phase & within
    dt = np.sqrt(_distance_sq(phase, within))
    markers, n = ndi.label(h_maxima(dt, h) & inside)
    if n == 0:
        return np.zeros(0), 0
    start = np.array([[sl.start for sl in obj] for obj in ndi.find_objects(markers)])
    own = np.ones(n, dtype=bool)
    for k, ((a, b), (e0, _)) in enumerate(zip(box, ext, strict=True)):
        own &= (start[:, k] >= a - e0) & (start[:, k] < b - e0)
    part = watershed(_flood_order(dt, tuple(e[0] for e in ext)), markers, mask=inside)
    cut = []
    for k, ((a, b), n_k) in enumerate(zip(ext, block.shape, strict=True)):
        face = [slice(None)] * 3
        if a > 0:
            face[k] = 0
            cut.append(np.unique(part[tuple(face)]))
        if b < n_k:
            face[k] = -1
            cut.append(np.unique(part[tuple(face)]))
    touching = np.isin(np.arange(1, n + 1), np.concatenate(cut)) if cut else np.zeros(n, bool)
    volumes = np.bincount(part.ravel(), minlength=n + 1)[1:]
    return volumes[own].astype(np.float64), int(np.count_nonzero(own & touching))


def particle_sizes(
    labels: Any,
    voxel_size_um: float,
    code: int = 1,
    region: Region | None = None,
    h: float = 1.0,
    min_voxels: int = 8,
    slab_voxels: int | None = None,
    halo_factor: int = 4,
) -> dict[str, Any]:
    """Number and equivalent-diameter distribution (µm, number-weighted) of separated particles.

    ``labels``: a labels volume and the phase's ``code``, or a boolean mask (``code`` 1).
    ``n_truncated``: particles longer than the blocks' halo (``halo_factor`` times the
    largest inscribed-ball radius) that were cut at its face (0 for a volume in one block).
    """
    labels = _as_labels(labels)
    _, parts = size_passes(labels, [], [code], region, slab_voxels=slab_voxels,
                           halo_factor=halo_factor, h=h)  # fmt: skip
    return _particle_record(*parts[code], voxel_size_um, min_voxels)


def _particle_record(
    vol: np.ndarray, truncated: int, voxel_size_um: float, min_voxels: int = 8
) -> dict[str, Any]:
    """The particles entry from particle volumes (voxels) and the truncated count."""
    vol = vol[vol >= min_voxels]
    diam = (6.0 * vol / np.pi) ** (1.0 / 3.0) * voxel_size_um
    return {
        "n_particles": int(diam.size),
        "n_truncated": truncated,
        **_distribution(diam, None),
        "diameters_um": np.sort(diam).tolist(),
    }


def size_distributions(
    labels: Any,
    voxel_size_um: float,
    phases: Mapping[str, int],
    particle_phases: Sequence[str],
    region: Region | None = None,
    slab_voxels: int | None = None,
    halo_factor: int = 4,
) -> dict[str, Any]:
    """The ``sizes`` record entry: local thickness distribution (µm, volume-weighted) of every
    phase and particles of ``particle_phases`` (those of ``phases`` named there), computed
    in two reads of the labels (:func:`size_passes`)."""
    parts = [name for name in particle_phases if name in phases]
    thick, particles = size_passes(
        labels, list(phases.values()), [phases[n] for n in parts], region,
        slab_voxels=slab_voxels, halo_factor=halo_factor,
    )  # fmt: skip
    return {
        "thickness": {
            name: _distribution(thick[code][0] * voxel_size_um, thick[code][1].astype(float))
            for name, code in phases.items()
        },
        "particles": {
            name: _particle_record(*particles[phases[name]], voxel_size_um) for name in parts
        },
    }
