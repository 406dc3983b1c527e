"""Arrays written in parts by separate jobs, joined without copying a byte.

A job writes its part of a larger array (a block of angles, a slab of rows) as a zarr v3
array store of its own, created by :func:`create_part` with the chunk shape of the final
array and starting on a chunk boundary. :func:`link_parts` then builds the final array by
hard-linking every part's chunk files under their index in the whole array (renumbering
the chunk index along the split axis) and writing one ``zarr.json``; when the parts live
on another filesystem (node-local scratch) the files are copied instead. Parts stay whole
until the workflow deletes them, so a join that dies leaves everything as it was.

"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import zarr

from tomosnake.errors import InputError
from tomosnake.io.volume import _jsonable, atomic_output

PathLike = str | os.PathLike[str]
#: attribute of a part store: {"axis": k, "start": s, "stop": e, "shape": full shape}
PART_KEY = "part"


def create_part(
    path: PathLike,
    full_shape: Sequence[int],
    dtype: Any,
    chunks: Sequence[int],
    start: int,
    stop: int,
    axis: int = 0,
    attrs: Mapping[str, Any] | None = None,
) -> zarr.Array:
    """Create the store of part ``[start, stop)`` along ``axis`` of a ``full_shape`` array.

    ``start`` must lie on a chunk boundary and ``stop`` too, unless it is the array's end,
    so that no chunk is shared by two parts. Fill the returned array inside
    :func:`~tomosnake.io.atomic_output` (pass its temporary path).
    """
    full = tuple(int(n) for n in full_shape)
    c = int(chunks[axis])
    if not 0 <= start < stop <= full[axis]:
        raise InputError(f"{path}: part [{start}, {stop}) outside 0..{full[axis]} on axis {axis}")
    if start % c or (stop % c and stop != full[axis]):
        raise InputError(f"{path}: part [{start}, {stop}) does not lie on chunk boundaries "
                         f"(chunk {c} on axis {axis})")
    shape = list(full)
    shape[axis] = stop - start
    arr = zarr.create_array(store=str(path), shape=tuple(shape), dtype=dtype,
                            chunks=tuple(int(n) for n in chunks), zarr_format=3, overwrite=True)
    arr.attrs.update(_jsonable({**(attrs or {}),
                                PART_KEY: {"axis": axis, "start": start, "stop": stop,
                                           "shape": list(full)}}))
    return arr


def _meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable zarr v3 array store ({exc})") from None
    if meta.get("node_type") != "array" or PART_KEY not in meta.get("attributes", {}):
        raise InputError(f"{path}: not a part store written by create_part")
    return meta


def _chunk_files(path: Path) -> list[Path]:
    root = path / "c"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def _place(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(src, dst)


def link_parts(
    parts: Sequence[PathLike], out: PathLike, attrs: Mapping[str, Any] | None = None,
    dimension_names: Sequence[str] | None = None,
) -> Path:
    """Join part stores into the array store ``out`` (atomically), linking chunk files.

    The parts must tile the whole array along their split axis without gaps or overlaps
    and share dtype, chunks and codecs. Attributes: the first part's (less ``part``),
    updated with ``attrs``; ``dimension_names`` (e.g. ``("z", "y", "x")``) name the axes.
    Raises InputError naming the part that does not fit.
    """
    metas = [(Path(p), _meta(Path(p))) for p in parts]
    if not metas:
        raise InputError(f"{out}: no parts to join")
    metas.sort(key=lambda pm: pm[1]["attributes"][PART_KEY]["start"])
    first = metas[0][1]
    spec = first["attributes"][PART_KEY]
    axis, full = int(spec["axis"]), [int(n) for n in spec["shape"]]
    grid = first["chunk_grid"]["configuration"]["chunk_shape"]
    same = ("data_type", "chunk_grid", "codecs", "fill_value", "chunk_key_encoding")
    edge = 0
    for path, meta in metas:
        p = meta["attributes"][PART_KEY]
        if int(p["axis"]) != axis or [int(n) for n in p["shape"]] != full:
            raise InputError(f"{path}: part of a {p['shape']} array split on axis {p['axis']}, "
                             f"expected {full} split on axis {axis}")
        if any(meta[k] != first[k] for k in same):
            raise InputError(f"{path}: dtype, chunks or codecs differ from {metas[0][0]}")
        if int(p["start"]) != edge:
            raise InputError(f"{path}: part starts at {p['start']} on axis {axis}, expected "
                             f"{edge} (parts must tile 0..{full[axis]} without gaps)")
        edge = int(p["stop"])
    if edge != full[axis]:
        raise InputError(f"{out}: parts end at {edge} on axis {axis}, the array has {full[axis]}")
    sep = first["chunk_key_encoding"].get("configuration", {}).get("separator", "/")
    if first["chunk_key_encoding"].get("name") != "default" or sep != "/":
        raise InputError(f"{metas[0][0]}: only zarr's default '/' chunk keys can be linked")
    meta = dict(first)
    meta["shape"] = full
    meta["attributes"] = {k: v for k, v in first["attributes"].items() if k != PART_KEY}
    meta["attributes"].update(_jsonable(dict(attrs or {})))
    if dimension_names is not None:
        meta["dimension_names"] = list(dimension_names)
    with atomic_output(out) as tmp:
        tmp.mkdir(parents=True)
        for path, m in metas:
            offset = int(m["attributes"][PART_KEY]["start"]) // int(grid[axis])
            for f in _chunk_files(path):
                idx = [int(i) for i in f.relative_to(path / "c").parts]
                idx[axis] += offset
                _place(f, tmp.joinpath("c", *map(str, idx)))
        (tmp / "zarr.json").write_text(json.dumps(meta, indent=2))
    return Path(out)


def chunk_bytes_on_disk(path: PathLike) -> int:
    """Bytes of the chunk files of the array store at ``path`` (what reading it all reads)."""
    return int(sum(f.stat().st_size for f in _chunk_files(Path(path))))

