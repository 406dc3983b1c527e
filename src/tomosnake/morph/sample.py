"""The sample region: which voxels of a labels volume are sample, so air is never pore.

A real sample (a FIB-milled pillar, a capillary, a punched disc) does not fill the field
of view, and the air around it is segmented as the darkest phase, pore. Every metric of
:mod:`tomosnake.morph` is computed inside the sample region only. The region is one of
(setting ``morph.sample.mode``):

- ``auto`` (default): found from the labels. Grey values cannot tell air from pores
  (both are the dark phase), and a single slice cannot either (a big pore open to the
  edge of the field of view looks like air). Along z it can: pores wander from slice to
  slice, air around a pillar, capillary or disc (mounted along the rotation axis, z)
  stays. So, in blocks of ``block_planes`` (32) planes, a pixel is sample support when
  it holds a solid phase (every phase but ``background``: the phase named pore, else
  the one with the lowest label code) in at least
  ``occupancy`` (10 %) of the block's planes; the support is hole-filled, parts smaller
  than a tenth of the largest are dropped, and the block's region is: the whole slice
  if the support covers ``whole_fraction`` (98 %) of it, else the cylinder (centroid,
  radius of equal area) or box (bounding box) that overlaps the support best (its
  intersection over union is recorded as ``iou``). Within a block the planes holding
  less than a quarter of the block's typical solid fraction inside that shape (above or
  below the sample) are left out. A volume that is all sample (e.g. taufactor's
  electrode) comes out whole, which makes ``auto`` a safe default: a user need not know
  in advance whether a scan has air around it. A sample that is neither a cylinder nor
  a box (a low ``iou``) needs an explicit ``box`` or ``cylinder``.
- ``none``: the whole volume.
- ``box``: ``[[z0, z1], [y0, y1], [x0, x1]]``, half-open voxel index ranges.
- ``cylinder``: ``{center_yx: [y, x], radius: r, z: [z0, z1]}`` in voxels, the axis along
  z. Voxel (y, x) spans [y, y + 1) x [x, x + 1) (the project's pixel convention), so its
  centre is (y + 0.5, x + 0.5), and it is inside when that centre is within ``r`` of
  ``center_yx`` (a cylinder centred in an n-wide slice has centre n / 2).

The region is recorded in morphology.json as ``sample`` = {mode, voxels,
fraction_of_volume, bbox_zyx, params} (``auto``: params.blocks, one shape per block of
planes); :func:`sample_mask` rebuilds the mask of any slab from that record alone, so
figures can draw its outline.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import cc3d
import numpy as np
from scipy import ndimage as ndi

from tomosnake.config import defaults as config_defaults
from tomosnake.errors import ConfigError
from tomosnake.morph.blocks import slabs

log = logging.getLogger("tomosnake.morph")
MODES = ("auto", "none", "box", "cylinder")
#: defaults of ``morph.sample``
#: settings of ``morph.sample`` and their defaults (from the config schema)
DEFAULTS: dict[str, Any] = config_defaults("morph")["sample"]


def _ranges(value: Any, key: str, n: int) -> tuple[int, int]:
    """A half-open voxel index range [a, b) inside 0..n; ConfigError naming ``key``."""
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value)
    ):
        raise ConfigError(f"{key} {value!r}: expected [start, stop] voxel indices")
    a, b = int(value[0]), int(value[1])
    if not 0 <= a < b <= n:
        raise ConfigError(f"{key} {value!r}: expected 0 <= start < stop <= {n} (the volume)")
    return a, b


def _number(value: Any, key: str, positive: bool = True) -> float:
    if not isinstance(value, int | float | np.integer | np.floating) or isinstance(value, bool):
        raise ConfigError(f"{key} {value!r}: expected a number")
    if not math.isfinite(float(value)) or (positive and float(value) <= 0):
        raise ConfigError(f"{key} {value!r}: expected a positive number")
    return float(value)


def check_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``morph.sample`` settings with defaults filled in; ConfigError for unknown keys."""
    out = dict(DEFAULTS)
    for key, value in (settings or {}).items():
        if key not in DEFAULTS:
            raise ConfigError(
                f"morph.sample.{key}: unknown setting (expected some of {', '.join(DEFAULTS)})"
            )
        out[key] = value
    if out["mode"] not in MODES:
        raise ConfigError(f"morph.sample.mode {out['mode']!r}: expected one of {', '.join(MODES)}")
    return out


def _box_params(value: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    key = "morph.sample.box"
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise ConfigError(f"{key} {value!r}: expected [[z0, z1], [y0, y1], [x0, x1]] (voxels)")
    box = [
        list(_ranges(v, f"{key}[{'zyx'[i]}]", n))
        for i, (v, n) in enumerate(zip(value, shape, strict=True))
    ]
    return {"box": box}


def _cylinder_params(value: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    key = "morph.sample.cylinder"
    if not isinstance(value, Mapping) or set(value) - {"center_yx", "radius", "z"}:
        raise ConfigError(
            f"{key} {value!r}: expected {{center_yx: [y, x], radius: r, z: [z0, z1]}}"
        )
    center = value.get("center_yx")
    if not isinstance(center, list | tuple) or len(center) != 2:
        raise ConfigError(f"{key}.center_yx {center!r}: expected [y, x] (voxels)")
    cy, cx = (_number(c, f"{key}.center_yx", positive=False) for c in center)
    radius = _number(value.get("radius"), f"{key}.radius")
    z = _ranges(value.get("z", [0, shape[0]]), f"{key}.z", shape[0])
    if not (0 <= cy <= shape[1] and 0 <= cx <= shape[2]):
        raise ConfigError(
            f"{key}.center_yx {list(center)}: outside the {shape[1]} x {shape[2]} slice"
        )
    return {"center_yx": [cy, cx], "radius": radius, "z": list(z)}


def _cylinder_plane(
    params: Mapping[str, Any], ny: int, nx: int, y0: int = 0, x0: int = 0
) -> np.ndarray:
    """Voxels (y0.., x0..) of an (ny, nx) window whose centres lie within the radius."""
    cy, cx = params["center_yx"]
    y = np.arange(y0, y0 + ny) + 0.5 - cy
    x = np.arange(x0, x0 + nx) + 0.5 - cx
    return y[:, None] ** 2 + x[None, :] ** 2 <= float(params["radius"]) ** 2


def _box_plane(box_yx: Any, ny: int, nx: int, y0: int = 0, x0: int = 0) -> np.ndarray:
    (a, b), (c, d) = box_yx
    out = np.zeros((ny, nx), dtype=bool)
    out[max(a - y0, 0) : max(b - y0, 0), max(c - x0, 0) : max(d - x0, 0)] = True
    return out


def _fit_block(count: np.ndarray, n_planes: int, params: Mapping[str, Any]) -> dict[str, Any]:
    """Shape of one block from its solid counts per pixel (module docstring)."""
    support = count >= max(1, math.ceil(params["occupancy"] * n_planes))
    support = ndi.binary_fill_holes(support)
    comp, n = cc3d.connected_components(support, connectivity=8, return_N=True)
    if n == 0:
        return {"shape": "empty"}
    sizes = np.bincount(comp.ravel())[1:]
    support = np.isin(comp, 1 + np.flatnonzero(sizes >= 0.1 * sizes.max()))
    area = int(np.count_nonzero(support))
    if area >= params["whole_fraction"] * support.size:
        return {"shape": "whole", "iou": area / support.size}
    yy, xx = np.nonzero(support)
    cyl = {"center_yx": [float(yy.mean() + 0.5), float(xx.mean() + 0.5)]}
    cyl["radius"] = math.sqrt(area / math.pi)
    disc = _cylinder_plane(cyl, *support.shape)
    iou_c = np.count_nonzero(disc & support) / np.count_nonzero(disc | support)
    box = [[int(yy.min()), int(yy.max()) + 1], [int(xx.min()), int(xx.max()) + 1]]
    iou_b = area / ((box[0][1] - box[0][0]) * (box[1][1] - box[1][0]))
    if iou_c >= iou_b:
        return {"shape": "cylinder", **cyl, "iou": float(iou_c)}
    if box == [[0, support.shape[0]], [0, support.shape[1]]]:
        return {"shape": "whole", "iou": area / support.size}
    return {"shape": "box", "box_yx": box, "iou": float(iou_b)}


def _block_plane(
    block: Mapping[str, Any], ny: int, nx: int, y0: int = 0, x0: int = 0
) -> np.ndarray:
    """The (y, x) region of one ``auto`` block in an (ny, nx) window at (y0, x0)."""
    shape = block["shape"]
    if shape == "whole":
        return np.ones((ny, nx), dtype=bool)
    if shape == "cylinder":
        return _cylinder_plane(block, ny, nx, y0, x0)
    if shape == "box":
        return _box_plane(block["box_yx"], ny, nx, y0, x0)
    return np.zeros((ny, nx), dtype=bool)


def fit_auto_block(lab: Any, z0: int, params: Mapping[str, Any], step: int) -> dict:
    """The ``auto`` shape of one block of planes ``lab`` (z, y, x) starting at plane ``z0``.

    ``lab``: an array, or anything with ``shape`` that returns planes for ``lab[s:e]``.
    Works through the block ``step`` planes at a time, so its temporaries are a slab's.
    """
    codes = params["solid_codes"]
    n = lab.shape[0]
    count = np.zeros(lab.shape[1:], dtype=np.int32)
    for s, e in slabs(n, step):
        count += np.isin(lab[s:e], codes).sum(axis=0, dtype=np.int32)
    block = _fit_block(count, n, params)
    del count
    if block["shape"] != "empty":
        plane = _block_plane(block, *lab.shape[1:])
        frac = np.zeros(n)
        if plane.any():
            for s, e in slabs(n, step):
                frac[s:e] = np.isin(lab[s:e], codes)[:, plane].mean(axis=1)
        ref = np.median(frac[frac > 0]) if (frac > 0).any() else 0.0
        keep = np.flatnonzero(frac >= 0.25 * ref) if ref > 0 else np.zeros(0, int)
        if keep.size:
            block["z"] = [z0 + int(keep[0]), z0 + int(keep[-1]) + 1]
        else:
            block = {"shape": "empty"}
    block.setdefault("z", [z0, z0])
    return block


def warn_poor_fit(blocks: Iterable[Mapping[str, Any]]) -> None:
    """Log a warning when a block's shape fits its support with IoU < 0.9."""
    poor = [b for b in blocks if b.get("iou", 1.0) < 0.9]
    if poor:
        log.warning(
            "sample region: planes %s..%s fit a %s only with IoU %.2f; the sample may be "
            "neither a cylinder nor a box: set morph.sample.mode box or cylinder",
            poor[0]["z"][0], poor[0]["z"][1], poor[0]["shape"], poor[0]["iou"],
        )  # fmt: skip


def sample_mask(
    volume_or_slab: Any, sample: Mapping[str, Any], z0: int = 0, y0: int = 0, x0: int = 0
) -> np.ndarray:
    """Boolean mask (z, y, x) of the sample region in a slab starting at plane ``z0``.

    ``volume_or_slab``: any array of the slab (labels, grey values): only its shape is
    used. ``sample``: the ``sample`` record of morphology.json (or :func:`resolve`'s
    region). ``y0``, ``x0``: where the slab starts in y and x, for a window that is not
    whole planes.
    """
    shape = tuple(volume_or_slab.shape)
    nz, ny, nx = shape
    mode, params = sample["mode"], sample.get("params") or {}
    if mode == "none":
        return np.ones(shape, dtype=bool)
    out = np.zeros(shape, dtype=bool)
    if mode == "box":
        (a, b), box_y, box_x = params["box"]
        out[max(a - z0, 0) : max(b - z0, 0)] = _box_plane([box_y, box_x], ny, nx, y0, x0)
        return out
    if mode == "cylinder":
        a, b = params["z"]
        out[max(a - z0, 0) : max(b - z0, 0)] = _cylinder_plane(params, ny, nx, y0, x0)
        return out
    if mode == "auto":
        for block in params["blocks"]:
            a, b = max(block["z"][0] - z0, 0), min(block["z"][1] - z0, nz)
            if a < b:
                out[a:b] = _block_plane(block, ny, nx, y0, x0)
        return out
    raise ConfigError(f"sample mode {mode!r}: expected one of {', '.join(MODES)}")


def resolve(
    labels: Any,
    phases: Mapping[str, int],
    settings: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """``{"mode", "params"}`` of the sample region from the ``morph.sample`` settings.

    Checks explicit regions against the volume (ConfigError naming the key) and, for
    ``auto``, checks its settings: its blocks (``params["blocks"]``) are fitted by
    :func:`tomosnake.morph.slabpass.run` while it reads the labels for the metrics.
    """
    cfg = check_settings(settings)
    shape = tuple(labels.shape)
    mode = cfg["mode"]
    if mode == "none":
        return {"mode": "none", "params": {}}
    if mode == "box":
        if cfg["box"] is None:
            raise ConfigError(
                "morph.sample.mode box: set morph.sample.box [[z0, z1], [y0, y1], [x0, x1]]"
            )
        return {"mode": "box", "params": _box_params(cfg["box"], shape)}
    if mode == "cylinder":
        if cfg["cylinder"] is None:
            raise ConfigError(
                "morph.sample.mode cylinder: set morph.sample.cylinder "
                "{center_yx: [y, x], radius: r, z: [z0, z1]}"
            )
        return {"mode": "cylinder", "params": _cylinder_params(cfg["cylinder"], shape)}
    background = cfg["background"]
    if background is None:  # pore, else the darkest phase (lowest code, as pore = 0)
        background = "pore" if "pore" in phases else min(phases, key=phases.__getitem__)
    if background not in phases:
        raise ConfigError(
            f"morph.sample.background {background!r}: not a phase ({', '.join(phases)}); "
            "name the phase the air is labelled as"
        )
    occupancy = _number(cfg["occupancy"], "morph.sample.occupancy")
    whole = _number(cfg["whole_fraction"], "morph.sample.whole_fraction")
    if occupancy > 1 or whole > 1:
        raise ConfigError("morph.sample.occupancy/whole_fraction: expected fractions 0..1")
    block_planes = cfg["block_planes"]
    if isinstance(block_planes, bool) or not isinstance(block_planes, int) or block_planes < 1:
        raise ConfigError(f"morph.sample.block_planes {block_planes!r}: expected an integer >= 1")
    params: dict[str, Any] = {
        "background_code": int(phases[background]),
        "solid_codes": sorted(int(c) for n, c in phases.items() if n != background),
        "block_planes": block_planes,
        "occupancy": occupancy,
        "whole_fraction": whole,
    }
    return {"mode": "auto", "params": params}


def describe(region: Mapping[str, Any], shape: tuple[int, ...], masks: Iterable) -> dict:
    """The ``sample`` record from a region and its slab masks ``(z0, mask)`` in z order."""
    voxels = 0
    lo = [None, None, None]
    hi = [None, None, None]
    for z0, m in masks:
        count = int(np.count_nonzero(m))
        if not count:
            continue
        voxels += count
        for axis in range(3):
            other = tuple(a for a in range(3) if a != axis)
            hit = np.flatnonzero(m.any(axis=other))
            shift = z0 if axis == 0 else 0
            a, b = int(hit[0]) + shift, int(hit[-1]) + 1 + shift
            lo[axis] = a if lo[axis] is None else min(lo[axis], a)
            hi[axis] = b if hi[axis] is None else max(hi[axis], b)
    if not voxels:
        raise ConfigError(
            f"sample region ({region['mode']}) is empty: no sample found in the labels; "
            "set morph.sample.mode to none, box or cylinder"
        )
    return {
        "mode": region["mode"],
        "voxels": voxels,
        "fraction_of_volume": voxels / float(np.prod(shape)),
        "bbox_zyx": [[lo[i], hi[i]] for i in range(3)],
        "params": dict(region["params"]),
    }


def fills_box(sample: Mapping[str, Any]) -> bool:
    """True when the region is exactly its bounding box (``none``, ``box``, a full ``auto``)."""
    box = sample["bbox_zyx"]
    return sample["voxels"] == int(np.prod([b - a for a, b in box]))


class Region:
    """The sample mask of any run of planes of a labels volume, for the slab loops.

    ``region``: ``{"mode", "params"}`` (:func:`resolve`) or a ``sample`` record; masks
    come from its parameters alone (no labels are read).
    """

    def __init__(self, labels: Any, region: Mapping[str, Any]):
        self.labels = labels
        self.region = {"mode": region["mode"], "params": dict(region.get("params") or {})}
        self.shape = tuple(labels.shape)

    @property
    def whole(self) -> bool:
        """True for mode ``none`` (every voxel is sample)."""
        return self.region["mode"] == "none"

    def mask(
        self, lo: int, hi: int, ys: slice | None = None, xs: slice | None = None
    ) -> np.ndarray:
        """Boolean mask of planes ``lo .. hi - 1`` (clipped to the volume), or of the window
        ``ys``, ``xs`` of them (slices with explicit, in-volume start and stop)."""
        lo, hi = max(lo, 0), min(hi, self.shape[0])
        ys = ys or slice(0, self.shape[1])
        xs = xs or slice(0, self.shape[2])
        shape = (hi - lo, ys.stop - ys.start, xs.stop - xs.start)
        return sample_mask(_Shape(shape), self.region, lo, ys.start, xs.start)

    def record(self, planes: int) -> dict[str, Any]:
        """The ``sample`` record (one pass over the volume in slabs of ``planes``)."""
        masks = ((s, self.mask(s, e)) for s, e in slabs(self.shape[0], planes))
        return describe(self.region, self.shape, masks)


class _Shape:
    """Stand-in for a slab when only its shape matters (box, cylinder, none)."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape
