"""A scientist's own labelled slices of a reconstruction, as training input.

Three kinds of label source name slices by their index z in the scan's reconstruction
(recon.zarr, (z, y, x)):

- a **SegmentPy folder**: ``N.tif`` grey slice + ``N_label.tif`` label image per slice;
- a **folder of label TIFFs** named by slice index: ``N_label.tif`` (or ``N.tif`` label
  images alone); an optional letter prefix is allowed (``slice0100_label.tif``);
- a **sparse label volume** the size of the reconstruction: a zarr array store or a TIFF
  stack, where voxels equal to the unlabelled value are not labelled (scribbles work).

Label values are turned into the workflow's phase codes through a phase map (phase name ->
value in the files). A sidecar states the map of a source: ``labels.json`` in a folder
(written by ``tomosnake label export``), the attributes ``phases``/``unlabelled`` of a zarr
store, or the ImageDescription JSON of a TIFF stack; without one, the caller's
``label_phases``/``unlabelled`` (the workflow's ``segment.label_phases`` and
``segment.label_unlabelled``) apply.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile
import zarr

from tomosnake.errors import ConfigError, InputError
from tomosnake.io import atomic_output
from tomosnake.io.volume import TIFF_SUFFIXES, _read_tiff, is_zarr_path
from tomosnake.segment.data import CANONICAL_PHASES, check_label_values

log = logging.getLogger(__name__)

SIDECAR = "labels.json"
SIDECAR_SCHEMA = "tomosnake.labels/1"
#: code of unlabelled voxels in :attr:`LabelledSlices.labels`
UNLABELLED = 255
#: phase map and unlabelled value assumed for sources without a sidecar
DEFAULT_LABEL_PHASES = dict(CANONICAL_PHASES)
DEFAULT_UNLABELLED = 255
#: label values that napari paints (0 = background = unlabelled)
NAPARI_PHASES = {"pore": 1, "cbd": 2, "nmc": 3}
#: label volumes up to this many voxels are read whole by :func:`check_label_source`
CHECK_READ_VOXELS = 64 * 2**20
_NAME = re.compile(r"^[A-Za-z_-]*?(\d+)(_labels?)?\.tiff?$", re.IGNORECASE)

Shape = tuple[int | None, int | None, int | None]


@dataclass
class LabelledSlices:
    """Labelled z-slices of one (nz, ny, nx) reconstruction, in the workflow's phase codes.

    ``labels`` (n, ny, nx) uint8 holds the codes of ``phases`` (pore=0, cbd=1, nmc=2)
    and :data:`UNLABELLED` (255) where nothing was painted; ``z`` (sorted) are their
    slice indices, ``files`` the file each came from. ``grey`` (n, ny, nx) float32 holds
    the grey slices a SegmentPy folder ships beside its labels (None otherwise).
    ``sidecar`` is the source's ``labels.json`` content ({} if none); ``warnings`` what
    reading found suspicious.
    """

    source: str
    kind: str  # "segmentpy" | "tiff-folder" | "zarr" | "tiff-stack"
    shape: Shape
    z: list[int]
    labels: np.ndarray
    files: list[str]
    label_phases: dict[str, int]
    phases: dict[str, int] = field(default_factory=lambda: dict(CANONICAL_PHASES))
    grey: np.ndarray | None = None
    sidecar: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def labels_sha256(self) -> str:
        """SHA-256 of the slice indices and label codes (what training sees)."""
        h = hashlib.sha256(json.dumps(self.z).encode())
        h.update(np.ascontiguousarray(self.labels).tobytes())
        return h.hexdigest()


# ---------------------------------------------------------------- sidecar and phase map


def read_sidecar(folder: str | Path) -> dict:
    """The ``labels.json`` of a label folder ({} if there is none); InputError if unreadable."""
    p = Path(folder) / SIDECAR
    if not p.is_file():
        return {}
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: not a readable JSON file ({exc})") from exc
    if not isinstance(d, dict):
        raise InputError(f"{p}: expected a JSON object")
    return d


def write_sidecar(folder: str | Path, content: dict) -> Path:
    """Write ``labels.json`` into ``folder`` atomically (``schema`` added)."""
    p = Path(folder) / SIDECAR
    with atomic_output(p) as tmp:
        tmp.write_text(json.dumps({"schema": SIDECAR_SCHEMA, **content}, indent=1) + "\n")
    return p


def _phase_map(
    where: str, meta: dict, label_phases: dict[str, int] | None, unlabelled: int | None,
    phases: dict[str, int],
) -> tuple[dict[str, int], int]:
    """(phase name -> file value, unlabelled value): the source's own metadata first."""
    lp = meta.get("phases", label_phases if label_phases is not None else DEFAULT_LABEL_PHASES)
    un = meta.get("unlabelled", unlabelled if unlabelled is not None else DEFAULT_UNLABELLED)
    if not isinstance(lp, dict) or not all(isinstance(v, int) for v in lp.values()):
        raise InputError(f"{where}: phase map {lp!r} must map phase names to integer values")
    if set(lp) != set(phases):
        raise ConfigError(
            f"{where}: label phases {sorted(lp)} must name the workflow's phases {sorted(phases)}"
        )
    values = list(lp.values())
    if len(set(values)) != len(values) or not all(0 <= v <= 255 for v in values):
        raise ConfigError(f"{where}: label values {lp} must be distinct and in 0..255")
    if not isinstance(un, int) or un in values:
        raise ConfigError(f"{where}: unlabelled value {un!r} must be an integer not in {lp}")
    return dict(lp), un


def _lut(label_phases: dict[str, int], unlabelled: int, phases: dict[str, int]) -> np.ndarray:
    """256-entry table: file value -> workflow code (unknown values -> 254, never reached)."""
    lut = np.full(256, 254, np.uint8)
    for name, v in label_phases.items():
        lut[v] = phases[name]
    if 0 <= unlabelled <= 255:
        lut[unlabelled] = UNLABELLED
    return lut


def _convert(
    lab: np.ndarray, where: str, label_phases: dict[str, int], unlabelled: int,
    phases: dict[str, int],
) -> np.ndarray:
    """Label values -> workflow codes (uint8); InputError naming ``where`` for other values."""
    found = check_label_values(lab, where, None, None)
    bad = sorted(found - set(label_phases.values()) - {unlabelled})
    if bad:
        raise InputError(
            f"{where}: label values {bad} are not in the phase map {label_phases} "
            f"(unlabelled: {unlabelled}); fix the labels or state the map in {SIDECAR}"
        )
    lab = np.asarray(lab).astype(np.int64)
    out = np.full(lab.shape, UNLABELLED, np.uint8)
    known = lab != unlabelled
    out[known] = _lut(label_phases, unlabelled, phases)[lab[known]]
    return out


def _check_plane(shape2: tuple[int, ...], where: str, volume_shape: Shape) -> None:
    if len(shape2) != 2:
        raise InputError(f"{where}: expected one 2-D label image, got shape {shape2}")
    want = tuple(volume_shape[1:])
    if any(w is not None and w != s for w, s in zip(want, shape2, strict=True)):
        raise InputError(
            f"{where}: label image is {shape2[0]} x {shape2[1]} (y, x) but the reconstruction's "
            f"slices are {want[0]} x {want[1]}"
        )


def _check_z(z: int, where: str, volume_shape: Shape) -> None:
    nz = volume_shape[0]
    if nz is not None and not 0 <= z < nz:
        raise InputError(
            f"{where}: slice index {z} is outside the reconstruction's slices 0..{nz - 1}"
        )


# ---------------------------------------------------------------- the three kinds


def _kind(path: Path) -> str:
    if not path.exists():
        raise InputError(f"{path}: label source does not exist")
    if is_zarr_path(path):
        return "zarr"
    if path.is_dir():
        return "folder"
    if path.suffix.lower() in TIFF_SUFFIXES:
        return "tiff-stack"
    raise InputError(
        f"{path}: not a label source (expected a folder of N_label.tif slices, a zarr store "
        "or a TIFF stack)"
    )


def _folder_files(folder: Path) -> tuple[str, dict[int, Path], dict[int, Path]]:
    """(kind, {z: label file}, {z: grey file}) of a label folder."""
    named: dict[int, dict[bool, Path]] = {}
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() not in TIFF_SUFFIXES or f.name.startswith("."):
            continue
        m = _NAME.match(f.name)
        if not m:
            raise InputError(
                f"{f}: cannot tell its slice index; name label images N_label.tif "
                "(N = slice index in the reconstruction)"
            )
        z, is_label = int(m[1]), bool(m[2])
        if is_label in named.setdefault(z, {}):
            raise InputError(f"{f}: slice {z} is labelled twice ({named[z][is_label].name})")
        named[z][is_label] = f
    if not named:
        raise InputError(f"{folder}: holds no label images (N_label.tif)")
    if any(True in d for d in named.values()):
        labels = {z: d[True] for z, d in named.items() if True in d}
        grey = {z: d[False] for z, d in named.items() if False in d and True in d}
        return ("segmentpy" if grey else "tiff-folder"), labels, grey
    return "tiff-folder", {z: d[False] for z, d in named.items()}, {}


def _tiff_shape(path: Path) -> tuple[int, ...]:
    try:
        with tifffile.TiffFile(path) as tf:
            series = tf.series[0]
            return tuple(int(s) for s in series.shape)
    except Exception as exc:  # tifffile raises many types for damaged files
        raise InputError(f"{path}: not a readable TIFF ({exc})") from exc


def _tiff_meta(path: Path) -> dict:
    """Phase map and unlabelled value stored in a TIFF stack's ImageDescription JSON."""
    try:
        with tifffile.TiffFile(path) as tf:
            meta = tf.shaped_metadata[0] if tf.shaped_metadata else {}
    except Exception:  # noqa: BLE001 - a TIFF without JSON metadata simply has none
        meta = {}
    return {k: meta[k] for k in ("phases", "unlabelled") if k in meta}


def _open_label_zarr(path: Path) -> zarr.Array:
    try:
        arr = zarr.open_array(store=str(path), mode="r")
    except Exception as exc:  # zarr raises several types for unreadable stores
        raise InputError(f"{path}: not a readable zarr array store ({exc})") from exc
    if arr.ndim != 3 or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(
            f"{path}: expected a 3-D integer label volume, got {arr.shape} {arr.dtype}"
        )
    return arr


def _check_volume_shape(shape: tuple[int, ...], where: str, volume_shape: Shape) -> None:
    if len(shape) != 3 or any(
        w is not None and w != s for w, s in zip(volume_shape, shape, strict=True)
    ):
        want = " x ".join("?" if w is None else str(w) for w in volume_shape)
        raise InputError(
            f"{where}: label volume is {' x '.join(map(str, shape))} (z, y, x) but the "
            f"reconstruction is {want}; sparse labels must be the size of the volume"
        )


def _labelled_planes(arr, unlabelled: int) -> list[int]:
    """z of the planes of a label volume holding any labelled voxel, read slab by slab."""
    step = int(arr.chunks[0]) if hasattr(arr, "chunks") else 16
    found = []
    for a in range(0, arr.shape[0], step):
        block = np.asarray(arr[a : a + step])
        found += [a + int(i) for i in np.flatnonzero((block != unlabelled).any(axis=(1, 2)))]
    return found


def _tiff_stack_planes(path: Path):
    """Per-page lazy access to a TIFF stack: (shape, getter(z) -> 2-D array)."""
    shape = _tiff_shape(path)
    if len(shape) == 2:
        shape = (1, *shape)

    class _Pages:
        def __init__(self):
            self.shape, self.chunks = shape, (1,)

        def __getitem__(self, key):
            if isinstance(key, slice):
                idx = range(*key.indices(shape[0]))
                return np.stack([tifffile.imread(path, key=i) for i in idx])
            return tifffile.imread(path, key=int(key))

    return _Pages()


def _open_label_volume(path: Path, kind: str):
    """A label volume (zarr store or TIFF stack) read lazily, and its phase-map metadata."""
    if kind == "zarr":
        arr = _open_label_zarr(path)
        return arr, dict(arr.attrs)
    return _tiff_stack_planes(path), _tiff_meta(path)


# ---------------------------------------------------------------- public


def label_files(path: str | Path) -> list[str]:
    """The files whose content is a label source's labels (for a workflow rule's inputs).

    A folder: its label images and ``labels.json`` (a SegmentPy folder's grey ``N.tif`` are
    left out: training reads the grey slices from the reconstruction). A zarr store: every
    file in it. A TIFF stack: the file. Editing, adding or removing any of them changes the
    labels; a folder's own modification time does not change when a file is edited.
    """
    path = Path(path)
    kind = _kind(path)
    if kind == "zarr":
        return sorted(str(f) for f in path.rglob("*") if f.is_file())
    if kind == "tiff-stack":
        return [str(path)]
    _, labels, _ = _folder_files(path)
    files = [str(f) for _, f in sorted(labels.items())]
    return files + ([str(path / SIDECAR)] if (path / SIDECAR).is_file() else [])


def check_label_source(
    path: str | Path,
    volume_shape: Shape | None = None,
    label_phases: dict[str, int] | None = None,
    unlabelled: int | None = None,
    phases: dict[str, int] = CANONICAL_PHASES,
) -> list[int]:
    """Cheap preflight of a label source: the slice indices it labels, or InputError naming
    the file.

    Reads TIFF tags and zarr metadata (shapes), and label values only of 2-D label images
    and of volumes up to :data:`CHECK_READ_VOXELS` voxels. ``volume_shape`` (nz, ny, nx),
    any entry None where not yet known, is the reconstruction the labels belong to.
    Checks: the phase map, slice indices inside the volume, image sizes, label values in
    the map, at least one labelled pixel (where values are read).
    """
    path = Path(path)
    volume_shape = tuple(volume_shape) if volume_shape is not None else (None, None, None)
    kind = _kind(path)
    if kind == "folder":
        lp, un = _phase_map(str(path / SIDECAR), read_sidecar(path), label_phases, unlabelled,
                            phases)
        _, labels, grey = _folder_files(path)
        first: tuple[int, ...] | None = None
        any_labelled = False
        for z, f in sorted(labels.items()):
            _check_z(z, str(f), volume_shape)
            shape = _tiff_shape(f)
            _check_plane(shape, str(f), volume_shape)
            if first is not None and shape != first:
                raise InputError(f"{f}: label image is {shape}, others are {first}")
            first = shape
            if z in grey and _tiff_shape(grey[z]) != shape:
                raise InputError(f"{f}: label image {shape} differs from grey slice "
                                 f"{grey[z].name} {_tiff_shape(grey[z])}")
            lab = _read_tiff(f)
            _convert(lab, str(f), lp, un, phases)
            any_labelled |= bool(np.any(lab != un))
        if not any_labelled:
            raise InputError(f"{path}: no labelled pixel (every label image is all {un})")
        return sorted(labels)
    arr, meta = _open_label_volume(path, kind)
    lp, un = _phase_map(str(path), meta, label_phases, unlabelled, phases)
    _check_volume_shape(tuple(arr.shape), str(path), volume_shape)
    if int(np.prod(arr.shape)) > CHECK_READ_VOXELS:
        return []
    data = np.asarray(arr[0 : arr.shape[0]])
    _convert(data, str(path), lp, un, phases)
    z = [int(i) for i in np.flatnonzero((data != un).any(axis=(1, 2)))]
    if not z:
        raise InputError(f"{path}: no labelled voxel (all equal the unlabelled value {un})")
    return z


def read_label_source(
    path: str | Path,
    volume_shape: Shape | None = None,
    label_phases: dict[str, int] | None = None,
    unlabelled: int | None = None,
    phases: dict[str, int] = CANONICAL_PHASES,
) -> LabelledSlices:
    """Read the labelled slices of a label source (see module docstring).

    Args:
        path: SegmentPy folder, label-TIFF folder, zarr label store or TIFF label stack.
        volume_shape: (nz, ny, nx) of the reconstruction the labels belong to (entries
            None where unknown): slice indices and image sizes are checked against it.
        label_phases: phase name -> label value in the files, used when the source has
            no sidecar (default pore=0, cbd=1, nmc=2; SegmentPy's own convention is
            nmc=0, cbd=1, pore=2).
        unlabelled: label value of unpainted pixels when the source has no sidecar
            (default 255).
        phases: the workflow's phase codes the labels are converted to.

    Raises InputError naming the file for values outside the phase map, slice indices
    outside the volume, images of the wrong size, and sources without a labelled pixel.
    Unpainted slices of a folder are skipped. Memory: the labelled slices only.
    """
    path = Path(path)
    volume_shape = tuple(volume_shape) if volume_shape is not None else (None, None, None)
    kind = _kind(path)
    warnings: list[str] = []
    grey_planes = None
    if kind == "folder":
        sidecar = read_sidecar(path)
        lp, un = _phase_map(str(path / SIDECAR), sidecar, label_phases, unlabelled, phases)
        kind, label_files, grey_files = _folder_files(path)
        zs, planes, files, greys = [], [], [], []
        prefill = sidecar.get("slices", {})
        for z, f in sorted(label_files.items()):
            _check_z(z, str(f), volume_shape)
            lab = _read_tiff(f)
            _check_plane(lab.shape, str(f), volume_shape)
            if planes and lab.shape != planes[0].shape:
                raise InputError(f"{f}: label image is {lab.shape}, others are {planes[0].shape}")
            codes = _convert(lab, str(f), lp, un, phases)
            if np.all(codes == UNLABELLED):
                log.info("%s: nothing painted, slice skipped", f)
                continue
            sha = hashlib.sha256(np.ascontiguousarray(lab).tobytes()).hexdigest()
            if prefill.get(str(z), {}).get("prefill_sha256") == sha:
                warnings.append(f"{f}: unchanged since export (the model's own prediction); "
                                "correct it, or it teaches the model nothing new")
            if z in grey_files:
                g = _read_tiff(grey_files[z])
                if g.shape != lab.shape:
                    raise InputError(f"{f}: label image {lab.shape} differs from grey slice "
                                     f"{grey_files[z].name} {g.shape}")
                greys.append(np.asarray(g, np.float32))
            zs.append(z)
            planes.append(codes)
            files.append(str(f))
        if not planes:
            raise InputError(f"{path}: no labelled pixel (every label image is all {un})")
        labels = np.stack(planes)
        if greys and len(greys) == len(planes):
            grey_planes = np.stack(greys)
    else:
        arr, sidecar = _open_label_volume(path, kind)
        lp, un = _phase_map(str(path), sidecar, label_phases, unlabelled, phases)
        _check_volume_shape(tuple(arr.shape), str(path), volume_shape)
        zs = _labelled_planes(arr, un)
        if not zs:
            raise InputError(f"{path}: no labelled voxel (all equal the unlabelled value {un})")
        labels = np.stack([_convert(np.asarray(arr[z]), f"{path} (z={z})", lp, un, phases)
                           for z in zs])
        files = [f"{path}[z={z}]" for z in zs]
    for w in warnings:
        log.warning(w)
    return LabelledSlices(
        source=str(path), kind=kind, shape=volume_shape, z=zs, labels=labels, files=files,
        label_phases=lp, phases=dict(phases), grey=grey_planes, sidecar=sidecar,
        warnings=warnings,
    )


def read_truth_slices(truth_path: str | Path, z: Sequence[int]) -> LabelledSlices:
    """Ground-truth slices ``z`` of a simulated scan's ``NAME_truth.zarr`` as labelled slices.

    Slice indices beyond the volume are dropped (the workflow's ``train_slices`` are shared
    by scans of different depth).
    """
    path = Path(truth_path)
    try:
        group = zarr.open_group(store=str(path), mode="r")
        truth = group["labels"]
        phases = {str(k): int(v) for k, v in dict(group.attrs["phases"]).items()}
    except Exception as exc:  # zarr raises several types for unreadable stores
        raise InputError(f"{path}: not a readable ground-truth store ({exc})") from exc
    zs = sorted({int(i) for i in z if 0 <= int(i) < truth.shape[0]})
    if not zs:
        raise InputError(f"{path}: none of the training slices {list(z)} lies inside its "
                         f"{truth.shape[0]} slices")
    lp, un = _phase_map(str(path), {"phases": phases, "unlabelled": UNLABELLED}, None, None,
                        CANONICAL_PHASES)
    labels = np.stack([_convert(np.asarray(truth[zz]), f"{path} (z={zz})", lp, un,
                                CANONICAL_PHASES) for zz in zs])
    return LabelledSlices(
        source=str(path), kind="truth", shape=tuple(truth.shape), z=zs, labels=labels,
        files=[f"{path}[z={zz}]" for zz in zs], label_phases=lp,
    )
