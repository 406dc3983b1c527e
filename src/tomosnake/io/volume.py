"""Volumes on disk: zarr v3 stores and TIFF stacks, written atomically.

A volume is a 3-D array (z, y, x). Zarr stores hold the array at the store root,
with metadata in the array attributes. Every writer goes through
:func:`atomic_output`: data land in a hidden temporary sibling that is renamed
onto the final path only when complete, so a killed process never leaves an
output that looks finished.

Importing :mod:`tomosnake.io` makes zarr write every chunk, even one holding only
the fill value (zarr's ``array.write_empty_chunks = True``): a chunk file missing
from a store tomosnake wrote then means the store is damaged, and
:func:`open_volume` reports it instead of silently returning zeros.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import zarr

from tomosnake.errors import InputError

TIFF_SUFFIXES = (".tif", ".tiff")

zarr.config.set({"array.write_empty_chunks": True})


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On an exception the temporary path is removed and ``path`` is left as it was.
    Stale temporaries of earlier killed runs (``.NAME.tmp-*``) are removed first.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        _remove(stale)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    if final.exists() or final.is_symlink():
        _remove(final)
    os.replace(tmp, final)


def is_zarr_path(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` names a zarr store (by suffix or by a ``zarr.json`` inside)."""
    p = Path(path)
    return p.suffix == ".zarr" or (p / "zarr.json").is_file()


def default_chunks(shape: tuple[int, ...], target_mb: float = 8.0, itemsize: int = 4) -> tuple:
    """Chunks of whole (y, x) planes, about ``target_mb`` MB each, for slab-wise access."""
    plane = int(np.prod(shape[1:])) * itemsize
    nz = max(1, min(shape[0], int(target_mb * 2**20 // max(plane, 1))))
    return (nz, *shape[1:])


def write_volume(
    path: str | os.PathLike[str],
    volume: np.ndarray,
    attrs: Mapping[str, Any] | None = None,
    chunks: tuple[int, ...] | None = None,
) -> Path:
    """Write a (z, y, x) array as a zarr v3 store or a multi-page TIFF, atomically.

    The format follows the suffix: ``.tif``/``.tiff`` writes one TIFF holding all
    z-planes (attributes go into the ImageDescription as JSON); anything else is a
    zarr store with ``attrs`` as array attributes.
    """
    path = Path(path)
    volume = np.asarray(volume)
    with atomic_output(path) as tmp:
        if path.suffix.lower() in TIFF_SUFFIXES:
            tifffile.imwrite(tmp, volume, metadata=dict(attrs or {}), photometric="minisblack")
        else:
            arr = zarr.create_array(
                store=str(tmp),
                shape=volume.shape,
                dtype=volume.dtype,
                chunks=chunks or default_chunks(volume.shape, itemsize=volume.dtype.itemsize),
                zarr_format=3,
            )
            arr[...] = volume
            arr.attrs.update(_jsonable(attrs or {}))
    return path


def create_volume(
    path: str | os.PathLike[str],
    shape: tuple[int, ...],
    dtype: np.dtype | str,
    attrs: Mapping[str, Any] | None = None,
    chunks: tuple[int, ...] | None = None,
    dimension_names: tuple[str, ...] | None = None,
) -> zarr.Array:
    """Create an empty zarr v3 array at ``path`` (for slab-by-slab filling).

    Callers fill it inside :func:`atomic_output` and pass the temporary path.
    """
    arr = zarr.create_array(
        store=str(path),
        shape=shape,
        dtype=dtype,
        chunks=chunks or default_chunks(shape, itemsize=np.dtype(dtype).itemsize),
        zarr_format=3,
        overwrite=True,
        dimension_names=dimension_names,
    )
    arr.attrs.update(_jsonable(attrs or {}))
    return arr


def open_volume(path: str | os.PathLike[str], verify: bool = False) -> zarr.Array | np.ndarray:
    """Open a volume lazily (zarr) or read it (TIFF stack file or folder of TIFFs).

    A zarr store with a missing chunk file raises at once. A chunk whose bytes are
    corrupt is found only when read, unless ``verify`` decodes every chunk now
    (reads the whole volume once, chunk by chunk).

    Raises :class:`InputError` naming the path when it is missing, not a volume,
    or damaged.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    if p.suffix.lower() in TIFF_SUFFIXES or p.is_dir() and not is_zarr_path(p):
        return read_tiff_volume(p)
    try:
        arr = zarr.open_array(store=str(p), mode="r")
    except Exception as exc:  # zarr raises several types for unreadable stores
        raise InputError(f"{p}: not a readable zarr array store ({exc})") from exc
    check_zarr_array(arr, str(p), verify=verify)
    return arr


def check_zarr_array(arr: zarr.Array, where: str, verify: bool = False) -> None:
    """Raise InputError naming ``where`` if chunks are missing (or, with ``verify``, corrupt)."""
    n_stored = arr.nchunks_initialized
    if n_stored < arr.nchunks:
        raise InputError(
            f"{where}: {arr.nchunks - n_stored} of {arr.nchunks} chunks are missing "
            "(store damaged or incompletely written)"
        )
    if verify:
        for region in _chunk_regions(arr):
            read_zarr(arr, where, region)


def read_zarr(arr: zarr.Array, where: str, region: Any = ...) -> np.ndarray:
    """``arr[region]``; a chunk that cannot be decoded raises InputError naming ``where``."""
    try:
        return np.asarray(arr[region])
    except Exception as exc:  # codecs raise RuntimeError, ValueError, OSError...
        raise InputError(
            f"{where}: cannot decode chunk data ({type(exc).__name__}: {exc}); the store is corrupt"
        ) from exc


def _chunk_regions(arr: zarr.Array) -> Iterator[tuple[slice, ...]]:
    grid = [range(0, s, c) for s, c in zip(arr.shape, arr.chunks, strict=True)]
    for starts in np.ndindex(*(len(g) for g in grid)):
        yield tuple(slice(grid[d][i], grid[d][i] + arr.chunks[d]) for d, i in enumerate(starts))


def volume_attrs(vol: zarr.Array | np.ndarray) -> dict[str, Any]:
    """Metadata of a volume opened with :func:`open_volume` ({} for plain arrays)."""
    return dict(vol.attrs) if hasattr(vol, "attrs") else {}


def read_tiff_volume(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a multi-page TIFF or a folder of single-plane TIFFs (sorted by name) as (z, y, x)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in TIFF_SUFFIXES)
        if not files:
            raise InputError(f"{p}: folder holds no .tif/.tiff files")
        planes = []
        for f in files:
            plane = _read_tiff(f)
            if planes and plane.shape != planes[0].shape:
                raise InputError(
                    f"{f}: frame is {plane.shape[-2:]} but {files[0].name} is "
                    f"{planes[0].shape[-2:]}"
                )
            planes.append(plane)
        return np.concatenate([pl.reshape(-1, *pl.shape[-2:]) for pl in planes])
    data = _read_tiff(p)
    return data if data.ndim == 3 else data.reshape(-1, *data.shape[-2:])


def _read_tiff(path: Path) -> np.ndarray:
    try:
        return tifffile.imread(path)
    except Exception as exc:  # tifffile raises many types for damaged files
        raise InputError(f"{path}: not a readable TIFF ({exc})") from exc


def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays inside ``obj`` to JSON-serialisable Python values."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj
