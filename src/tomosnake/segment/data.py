"""Labelled training data: SegmentPy folders (``N.tif`` + ``N_label.tif``) and zarr pairs.

A training item is one labelled 2-D slice (plus ``context`` neighbouring slices
above and below for 2.5-D models) whose grey values are already normalised
per acquisition, and whose labels are class indices (0..K-1, -1 = unlabelled).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from tomosnake.errors import InputError
from tomosnake.io import open_volume
from tomosnake.phases import PHASES
from tomosnake.segment.normalise import Normalisation, apply

log = logging.getLogger(__name__)

IGNORE_INDEX = -1
#: the workflow's phase codes, dark to bright
CANONICAL_PHASES = PHASES
_GREY = re.compile(r"^(\d+)\.tiff?$", re.IGNORECASE)


@dataclass
class LabelledSlice:
    """Normalised grey context (c, y, x) float32 and class indices (y, x) int64 (-1 ignored)."""

    image: np.ndarray
    target: np.ndarray
    source: str


def segmentpy_pairs(folder: str | Path) -> list[tuple[Path, Path]]:
    """(grey, label) file pairs of a SegmentPy folder, sorted by slice number."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: training data folder does not exist")
    pairs = []
    for f in folder.iterdir():
        m = _GREY.match(f.name)
        if not m:
            continue
        names = (folder / f"{m[1]}_label.tif", folder / f"{m[1]}_label.tiff")
        label = next((p for p in names if p.is_file()), None)
        if label is not None:
            pairs.append((int(m[1]), f, label))
    if not pairs:
        raise InputError(f"{folder}: no 'N.tif' grey slices with matching 'N_label.tif' labels")
    return [(g, lab) for _, g, lab in sorted(pairs)]


def _read_tif(path: Path) -> np.ndarray:
    try:
        return tifffile.imread(path)
    except Exception as exc:  # tifffile raises many types for damaged files
        raise InputError(f"{path}: not a readable TIFF ({exc})") from exc


def check_label_values(
    labels: np.ndarray, name: str, label_values: list[int] | None, ignore_value: int | None
) -> set[int]:
    """Label values present in ``labels`` (ignore value excluded); InputError if unexpected."""
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise InputError(f"{name}: labels must be integers, got dtype {labels.dtype}")
    found = {int(v) for v in np.unique(labels)} - {ignore_value}
    if label_values is not None and not found <= set(label_values):
        raise InputError(
            f"{name}: unexpected label values {sorted(found - set(label_values))}; "
            f"expected only {sorted(label_values)}"
            + (f" (or {ignore_value} for unlabelled)" if ignore_value is not None else "")
        )
    return found


def to_targets(labels: np.ndarray, label_values: list[int], ignore_value: int | None) -> np.ndarray:
    """Label values -> class indices 0..K-1 (in ``label_values`` order); unlabelled -> -1."""
    size = max(max(label_values), 255, int(labels.max(initial=0))) + 1
    lut = np.full(size, IGNORE_INDEX, np.int64)
    lut[np.asarray(label_values)] = np.arange(len(label_values))
    out = lut[labels.astype(np.int64)]
    if ignore_value is not None:
        out[labels == ignore_value] = IGNORE_INDEX
    return out


def context_stack(planes: np.ndarray, z: int, context: int) -> np.ndarray:
    """Slices z-context..z+context of ``planes`` (edge slices repeated) as (2c+1, y, x)."""
    idx = np.clip(np.arange(z - context, z + context + 1), 0, planes.shape[0] - 1)
    return np.stack([np.asarray(planes[int(i)]) for i in idx])


def load_segmentpy(
    folder: str | Path, norm: Normalisation, ignore_value: int | None
) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Normalised grey slices and raw labels of a SegmentPy folder.

    Slices of the same size are taken to be one acquisition and share one
    normalisation (percentiles over all of them).
    """
    groups: dict[tuple, list[tuple[np.ndarray, np.ndarray, str]]] = defaultdict(list)
    for grey_path, label_path in segmentpy_pairs(folder):
        grey, labels = _read_tif(grey_path), _read_tif(label_path)
        if grey.ndim != 2 or labels.shape != grey.shape:
            raise InputError(
                f"{label_path}: labels {labels.shape} do not match grey slice {grey.shape} "
                f"of {grey_path.name} (expected two 2-D images of equal size)"
            )
        groups[grey.shape].append((grey, labels, str(label_path)))
    out = []
    for shape, items in groups.items():
        lo, hi = norm.measure([g for g, _, _ in items], name=f"{folder} ({shape} slices)")
        out += [(apply(g, lo, hi)[None], lab, src) for g, lab, src in items]
    return out


def labelled_planes(
    volume, labels, norm: Normalisation, ignore_value: int | None, context: int, name: str
) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Normalised context stacks and raw labels of every z-slice of ``labels`` that has labels."""
    if tuple(volume.shape) != tuple(labels.shape) or len(volume.shape) != 3:
        raise InputError(
            f"{name}: labels shape {tuple(labels.shape)} does not match volume "
            f"{tuple(volume.shape)} (both must be (z, y, x))"
        )
    lo, hi = norm.measure(volume, name=name)
    out = []
    for z in range(labels.shape[0]):
        lab = np.asarray(labels[z])
        if ignore_value is not None and np.all(lab == ignore_value):
            continue
        out.append((apply(context_stack(volume, z, context), lo, hi), lab, f"{name}[z={z}]"))
    if not out:
        raise InputError(f"{name}: labels hold no labelled voxel (all equal {ignore_value})")
    return out


def open_pair(spec: str) -> tuple[object, object, str]:
    """Open a 'GREY,LABELS' pair of volume paths (zarr stores or TIFF stacks)."""
    grey, _, labels = spec.partition(",")
    if not labels:
        raise InputError(f"{spec}: expected 'GREY,LABELS' (two volume paths separated by a comma)")
    return open_volume(grey), open_volume(labels), grey


#: normalised grey units by which a slice's phase order may be reversed before a warning
ORDER_TOLERANCE = 0.02


def label_grey_means(
    items: list[tuple[np.ndarray, np.ndarray, str]], n_classes: int, context: int
) -> list[list[float | None]]:
    """Mean normalised grey value of each class in each training slice (None if absent).

    ``items`` are (normalised context stack (2c+1, y, x), class indices (y, x), source).
    """
    out = []
    for img, target, _ in items:
        plane = img[context]
        out.append([
            float(plane[target == k].mean()) if np.any(target == k) else None
            for k in range(n_classes)
        ])
    return out


def check_label_order(
    items: list[tuple[np.ndarray, np.ndarray, str]], names: list[str], context: int
) -> tuple[list[list[float | None]], list[str]]:
    """Per-slice class grey means and warnings for slices whose phase order is reversed.

    The expected order of two classes is the one most training slices show; a slice
    whose mean grey values put them the other way round by more than
    ``ORDER_TOLERANCE`` (normalised units) is reported: such labels are often
    swapped or drawn by a different convention, and they teach the model a rule the
    other slices contradict.
    """
    means = label_grey_means(items, len(names), context)
    warnings = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            pairs = [(m[i], m[j]) for m in means if m[i] is not None and m[j] is not None]
            if len(pairs) < 3:
                continue
            i_brighter = sum(a > b for a, b in pairs) * 2 > len(pairs)
            for m, (_, _, src) in zip(means, items, strict=True):
                if m[i] is None or m[j] is None:
                    continue
                hi, lo = (i, j) if i_brighter else (j, i)
                if m[lo] - m[hi] > ORDER_TOLERANCE:
                    warnings.append(
                        f"{src}: phase {names[lo]!r} is brighter than {names[hi]!r} "
                        f"({m[lo]:.2f} vs {m[hi]:.2f}, normalised grey), the reverse of most "
                        "training slices; check its label values"
                    )
    for w in warnings:
        log.warning(w)
    return means, warnings
