"""NeXus (NXtomo-style) scans: frames split by ``image_key``, following external links.

A NeXus master file usually holds no pixels itself: its detector ``data`` and the
rotation angles are HDF5 external links into per-detector files written beside it
(Diamond's DIAD beamline: ``k11-18014.nxs`` -> ``k11-18014/k11-18014-imaging.h5``
and ``k11-18014/k11-18014-pcompPanda.h5``).

Where the reader looks (each overridable with an option):

- frames: ``data_path``; else ``instrument/detector/data`` of an entry whose
  ``definition`` is ``NXtomo``; else the ``data`` of any group that also has an
  ``image_key`` (NXdetector groups first), the first one whose data resolve to a
  3-D dataset;
- ``image_key`` beside the frames (0 projection, 1 flat, 2 dark; other values such
  as 3 "invalid" are dropped). Without an image_key every frame is a projection;
- angles: ``angles_path``; else ``sample/rotation_angle``; else the ``value`` of an
  NXpositioner whose name contains ``theta``, ``rot`` or ``angle`` (DIAD:
  ``entry/instrument/gts_theta/value``). One angle per frame, or one per projection;
  units by attribute, else by value (see :mod:`tomosnake.io.validate`).

External links are resolved by this module, not by HDF5: relative file names are
taken relative to the file holding the link, and a link whose target lies outside
``allowed_dirs`` (default: the master file's folder and below) is refused, so a
crafted master file cannot read arbitrary files. Links to missing files raise
InputError naming the link and the missing file, but only for links the reader
needs (DIAD's master also links to files that were never shipped).

Metadata: ``x_pixel_size`` and ``distance`` of the detector group, beam energy
from an NXmonochromator ``energy`` or ``beam/incident_energy``. The NXsource
``energy`` is the storage ring's electron energy (3 GeV at Diamond), not the
X-ray energy, and is ignored.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tomosnake.errors import InputError
from tomosnake.io.hdf5util import (
    attr_str,
    energy_kev,
    length_m,
    length_um,
    open_hdf5,
    read_dataset,
    read_frames,
    scalar,
    unwritten_problem,
)
from tomosnake.io.rawscan import RawScan
from tomosnake.io.reader import ScanReader, missing_sentence
from tomosnake.io.scaninfo import ScanInfo
from tomosnake.io.validate import angles_to_radians

_MAX_LINKS = 32
_ANGLE_WORDS = ("theta", "rot", "angle")
IMAGE_KEYS = {"proj": 0, "flat": 1, "dark": 2}


class _Links:
    """Resolves HDF5 paths across soft and external links, checking every target file."""

    def __init__(self, master: Path, allowed_dirs: Sequence[Path], stack: contextlib.ExitStack):
        self.master = master
        self.allowed = [Path(d).resolve() for d in allowed_dirs]
        self.stack = stack
        self.files: dict[Path, h5py.File] = {}

    def open(self, path: Path) -> h5py.File:
        path = path.resolve()
        if path not in self.files:
            self.files[path] = self.stack.enter_context(open_hdf5(path))
        return self.files[path]

    def get(self, file: Path, obj_path: str, hops: int = 0) -> tuple[h5py.HLObject, str]:
        """The object at ``file:obj_path`` and a ``file:path`` label of where it really is."""
        if hops > _MAX_LINKS:
            raise InputError(f"{file}:{obj_path}: more than {_MAX_LINKS} chained links (a loop?)")
        fh = self.open(file)
        parts = [q for q in obj_path.split("/") if q]
        node: h5py.Group = fh["/"]
        for i, part in enumerate(parts):
            here = "/" + "/".join(parts[: i + 1])
            rest = "/".join(parts[i + 1 :])
            if not isinstance(node, h5py.Group):
                raise InputError(f"{file}:{here}: parent is a dataset, not a group")
            link = node.get(part, getlink=True)
            if link is None:
                raise InputError(f"{file}:{here}: no such group or dataset")
            if isinstance(link, h5py.ExternalLink):
                target = self.target(file, here, link)
                return self.get(target, posixpath.join(link.path, rest), hops + 1)
            if isinstance(link, h5py.SoftLink):
                base = (
                    link.path
                    if link.path.startswith("/")
                    else posixpath.join(posixpath.dirname(here), link.path)
                )
                return self.get(file, posixpath.join(base, rest), hops + 1)
            try:
                node = node[part]
            except (KeyError, OSError) as exc:
                raise InputError(f"{file}:{here}: cannot open ({exc})") from exc
        return node, f"{file}:{'/' + '/'.join(parts)}"

    def target(self, file: Path, here: str, link: h5py.ExternalLink) -> Path:
        """The file an external link points to, refused outside the allowed folders."""
        name = Path(link.filename)
        target = (name if name.is_absolute() else file.parent / name).resolve()
        label = f"external link {file}:{here} -> {link.filename}:{link.path}"
        if not any(target.is_relative_to(d) for d in self.allowed):
            raise InputError(
                f"{label} points outside the allowed folders "
                f"({', '.join(str(d) for d in self.allowed)}); refused "
                "(pass allowed_dirs to permit)"
            )
        if not target.is_file():
            raise InputError(f"{label}: the linked file {target} does not exist")
        return target


class NexusReader(ScanReader):
    """A NeXus/NXtomo scan opened for block reading (see :mod:`tomosnake.io.reader`).

    Options as :func:`read_nexus`. Every file the links lead to stays open until
    :meth:`close`; ``deps`` lists them (the master first).
    """

    def _open(  # type: ignore[override]
        self,
        data_path: str | None = None,
        image_key_path: str | None = None,
        angles_path: str | None = None,
        allowed_dirs: Sequence[str | os.PathLike[str]] | None = None,
        theta_unit: str = "auto",
    ) -> ScanInfo:
        master = self.path
        allowed = [Path(d) for d in allowed_dirs] if allowed_dirs else [master.parent]
        links = _Links(master, allowed, self._stack)
        fh = links.open(master)
        det_path, data, data_where = _find_data(links, fh, master, data_path)
        self._data, self._data_where = data, data_where
        n = data.shape[0]
        key_path = image_key_path or _sibling(links, det_path, "image_key")
        if key_path is None:
            key, key_where = np.zeros(n, dtype=np.int64), None
            self.notes.append(
                f"{master}: no image_key beside {det_path}/data; every frame is a projection"
            )
        else:
            key_ds, key_where = links.get(master, key_path)
            key = _dataset(key_ds, key_where).ravel()
            if key.size != n:
                raise InputError(
                    f"{key_where}: image_key has {key.size} entries but {data_where} "
                    f"holds {n} frames"
                )
        self._index = {name: np.flatnonzero(key == code) for name, code in IMAGE_KEYS.items()}
        n_proj = self._index["proj"].size
        if n_proj == 0:
            raise InputError(f"{data_where}: no projections (image_key 0) among {n} frames")
        # projections acquired before each flat: tells flats before/after/between them
        self.flat_after = np.searchsorted(self._index["proj"], self._index["flat"])
        problems: list[str] = []
        for kind in ("flat", "dark"):
            if self._index[kind].size == 0:
                problems.append(
                    missing_sentence(
                        str(master), kind, f"no image_key {IMAGE_KEYS[kind]} frames in {data_where}"
                    )
                )
        problem = unwritten_problem(data, data_where)
        if problem:
            problems.append(problem)
        n_theta, ang_where = self._angles(links, fh, det_path, angles_path, theta_unit, problems)
        self.meta = _meta(links, master, det_path)
        self.meta["nexus_paths"] = {"data": data_where, "image_key": key_where, "angles": ang_where}
        self.deps = list(links.files)
        return self._make_info(
            "nexus",
            (n_proj, data.shape[1], data.shape[2]),
            data.dtype,
            self._index["flat"].size,
            self._index["dark"].size,
            problems,
            n_theta,
        )

    def _angles(
        self,
        links: _Links,
        fh: h5py.File,
        det_path: str,
        angles_path: str | None,
        theta_unit: str,
        problems: list[str],
    ) -> tuple[int, str | None]:
        """Read the projections' angles into ``self._theta``; (count, where) of them."""
        master, n, n_proj = self.path, self._data.shape[0], self._index["proj"].size
        ang_path = angles_path or _find_angles(fh, det_path)
        if ang_path is None:
            problems.append(
                f"{master}: no rotation angles found (looked for sample/rotation_angle "
                "and theta/rot/angle positioners); pass angles_path"
            )
            return 0, None
        try:
            ang_ds, ang_where = links.get(master, ang_path)
            values = _dataset(ang_ds, ang_where).ravel()
        except InputError as exc:
            problems.append(str(exc))
            return 0, None
        if values.size == n:
            values = values[self._index["proj"]]
        elif values.size != n_proj:
            problems.append(
                f"{ang_where}: {values.size} angles, expected {n} (one per frame) or "
                f"{n_proj} (one per projection)"
            )
        try:
            units = attr_str(ang_ds, "units")
            self._theta = angles_to_radians(values, ang_where, units, theta_unit)
        except InputError as exc:
            problems.append(str(exc))
        return values.size, ang_where

    def _where(self, kind: str) -> str:
        if kind == "proj":
            return self._data_where
        return f"{self._data_where} ({kind} frames)"

    def _read(self, kind: str, index: np.ndarray) -> np.ndarray:
        return read_frames(self._data, self._where(kind), self._index[kind][index])


def read_nexus(
    path: str | os.PathLike[str],
    data_path: str | None = None,
    image_key_path: str | None = None,
    angles_path: str | None = None,
    allowed_dirs: Sequence[str | os.PathLike[str]] | None = None,
    theta_unit: str = "auto",
) -> RawScan:
    """Read a NeXus/NXtomo scan, splitting frames by image_key.

    Args:
        path: the NeXus master file (``.nxs``).
        data_path: HDF5 path of the frames (n_frames, z, x) in the master file.
        image_key_path: HDF5 path of the image_key (n_frames,).
        angles_path: HDF5 path of the rotation angles.
        allowed_dirs: folders external links may point into (default: the master's folder).
        theta_unit: ``"auto"``, ``"deg"`` or ``"rad"``.

    Returns:
        RawScan: proj (angle, z, x), flat/dark (n, z, x) in the detector dtype or None,
        theta (radians), meta with source, format="nexus", pixel_size_um, energy_kev,
        distance_m and ``nexus_paths`` (where frames, image_key and angles were found).
    """
    with NexusReader(
        path,
        data_path=data_path,
        image_key_path=image_key_path,
        angles_path=angles_path,
        allowed_dirs=allowed_dirs,
        theta_unit=theta_unit,
    ) as reader:
        return reader.read()


def _dataset(obj: h5py.HLObject, where: str) -> np.ndarray:
    if not isinstance(obj, h5py.Dataset):
        raise InputError(f"{where}: expected a dataset, found a group")
    return read_dataset(obj, where)


def _walk(group: h5py.Group, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, h5py.Group]]:
    """Groups reachable through hard links only (external links are not opened here)."""
    yield prefix or "/", group
    if depth > 8:
        return
    for name in group:
        if isinstance(group.get(name, getlink=True), h5py.HardLink):
            child = group[name]
            if isinstance(child, h5py.Group):
                yield from _walk(child, f"{prefix}/{name}", depth + 1)


def _nx_class(group: h5py.Group) -> str:
    return attr_str(group, "NX_class") or ""


def _is_nxtomo(group: h5py.Group) -> bool:
    if "definition" not in group or not isinstance(
        group.get("definition", getlink=True), h5py.HardLink
    ):
        return False
    value = group["definition"][()]
    value = value.decode() if isinstance(value, bytes) else str(value)
    return value.strip() == "NXtomo"


def _sibling(links: _Links, group_path: str, name: str) -> str | None:
    """``group_path/name`` if that link exists (without following it), else None."""
    try:
        group, _ = links.get(links.master, group_path)
    except InputError:
        return None
    if isinstance(group, h5py.Group) and group.get(name, getlink=True) is not None:
        return posixpath.join(group_path, name)
    return None


def _find_data(
    links: _Links, fh: h5py.File, master: Path, data_path: str | None
) -> tuple[str, h5py.Dataset, str]:
    """(detector group path, frames dataset, label) of the frames to read."""
    if data_path:
        candidates = [posixpath.dirname(data_path.rstrip("/")) or "/"]
        names = {candidates[0]: posixpath.basename(data_path.rstrip("/"))}
    else:
        groups = list(_walk(fh["/"]))
        tomo = [f"{p}/instrument/detector" for p, g in groups if _is_nxtomo(g)]
        keyed = [
            p
            for p, g in groups
            if g.get("data", getlink=True) is not None
            and g.get("image_key", getlink=True) is not None
        ]
        keyed.sort(key=lambda p: _nx_class(fh[p]) != "NXdetector")
        candidates = [p for p in tomo if _sibling(links, p, "data")] + keyed
        names = {p: "data" for p in candidates}
        if not candidates:
            raise InputError(
                f"{master}: no detector frames found (no NXtomo entry and no group "
                "holding both 'data' and 'image_key'); pass data_path"
            )
    errors = []
    for group_path in dict.fromkeys(candidates):
        full = posixpath.join(group_path, names[group_path])
        try:
            obj, where = links.get(master, full)
        except InputError as exc:
            if "outside the allowed folders" in str(exc):
                raise
            errors.append(exc)
            continue
        if isinstance(obj, h5py.Dataset) and obj.ndim == 3:
            return group_path, obj, where
        errors.append(
            InputError(
                f"{where}: expected 3-D frames (n, z, x), got "
                f"{obj.shape if isinstance(obj, h5py.Dataset) else 'a group'}"
            )
        )
    raise errors[0]


def _find_angles(fh: h5py.File, det_path: str) -> str | None:
    entry = "/" + det_path.strip("/").split("/")[0]
    for p, g in _walk(fh[entry], entry):
        if g.get("rotation_angle", getlink=True) is not None and p.endswith("sample"):
            return f"{p}/rotation_angle"
    for p, g in _walk(fh[entry], entry):
        name = p.rsplit("/", 1)[-1].lower()
        if (
            _nx_class(g) == "NXpositioner"
            and any(w in name for w in _ANGLE_WORDS)
            and g.get("value", getlink=True) is not None
        ):
            return f"{p}/value"
    return None


def _meta(links: _Links, master: Path, det_path: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "source": str(master),
        "format": "nexus",
        "pixel_size_um": None,
        "energy_kev": None,
        "distance_m": None,
    }
    fh = links.open(master)
    det, _ = links.get(master, det_path)
    if isinstance(det.get("x_pixel_size", getlink=True), h5py.HardLink):
        ds = det["x_pixel_size"]
        value = scalar(ds, f"{master}:{det_path}/x_pixel_size")
        if value is not None and value > 0:
            units = attr_str(ds, "units") or ("m" if value < 0.01 else "um")
            meta["pixel_size_um"] = length_um(value, units)
    if isinstance(det.get("distance", getlink=True), h5py.HardLink):
        ds = det["distance"]
        value = scalar(ds, f"{master}:{det_path}/distance")
        if value is not None:
            meta["distance_m"] = length_m(value, attr_str(ds, "units"))
    entry = "/" + det_path.strip("/").split("/")[0]
    for p, g in _walk(fh[entry], entry):
        name = None
        if _nx_class(g) == "NXmonochromator" and "energy" in g:
            name = "energy"
        elif p.endswith("/beam") and "incident_energy" in g:
            name = "incident_energy"
        if name and isinstance(g.get(name, getlink=True), h5py.HardLink):
            value = scalar(g[name], f"{master}:{p}/{name}")
            if value is not None and value > 0:
                units = attr_str(g[name], "units") or ("eV" if value > 1000 else "keV")
                meta["energy_kev"] = energy_kev(value, units)
                break
    return meta
