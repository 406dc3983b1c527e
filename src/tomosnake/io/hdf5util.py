"""Small helpers shared by the HDF5 scan readers (DXchange, NeXus).

Every failure of h5py (truncated or corrupt file, missing dataset, unreadable
chunk) becomes an :class:`~tomosnake.errors.InputError` that names the file and
the dataset, so a user sees one line instead of an HDF5 error stack.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tomosnake.errors import InputError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

#: length unit -> power of ten of one unit in metres (integer powers keep "m" -> "m" exact)
_LENGTH_EXP = {
    "m": 0, "meter": 0, "metre": 0, "meters": 0, "metres": 0, "cm": -2, "mm": -3,
    "um": -6, "µm": -6, "μm": -6, "micron": -6, "microns": -6, "micrometer": -6,
    "micrometre": -6, "micrometers": -6, "micrometres": -6,
    "nm": -9, "nanometer": -9, "nanometre": -9,
}  # fmt: skip
_ENERGY_TO_KEV = {"ev": 1e-3, "kev": 1.0, "mev": 1e3, "gev": 1e6, "j": 1.0 / 1.602176634e-16}


def is_hdf5(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a file starting with the HDF5 signature (at offset 0, 512, 1024...)."""
    p = Path(path)
    if not p.is_file():
        return False
    with open(p, "rb") as fh:
        for offset in (0, 512, 1024, 2048):
            fh.seek(offset)
            if fh.read(8) == HDF5_SIGNATURE:
                return True
    return False


@contextlib.contextmanager
def open_hdf5(path: str | os.PathLike[str]) -> Iterator[h5py.File]:
    """Open an HDF5 file read-only; a missing, truncated or corrupt file raises InputError."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        fh = h5py.File(p, "r")
    except OSError as exc:
        raise InputError(f"{p}: not a readable HDF5 file (truncated or corrupt?): {exc}") from exc
    try:
        yield fh
    finally:
        fh.close()


def read_dataset(dataset: h5py.Dataset, where: str, index: Any = ()) -> np.ndarray:
    """Read ``dataset[index]``; an unreadable (truncated) dataset raises InputError at ``where``."""
    try:
        return np.asarray(dataset[index])
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise InputError(
            f"{where}: cannot read dataset (file truncated or corrupt?): {exc}"
        ) from exc


def read_frames(dataset: h5py.Dataset, where: str, index: np.ndarray) -> np.ndarray:
    """Read the frames ``index`` (sorted ints) along axis 0, one contiguous run at a time."""
    index = np.asarray(index, dtype=np.int64)
    if index.size == 0:
        return np.empty((0, *dataset.shape[1:]), dtype=dataset.dtype)
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    runs = np.split(index, breaks)
    return np.concatenate([read_dataset(dataset, where, slice(r[0], r[-1] + 1)) for r in runs])


def attr_str(obj: h5py.HLObject, name: str) -> str | None:
    """A string attribute (bytes or str, scalar or 1-element array) or None."""
    if name not in obj.attrs:
        return None
    value = obj.attrs[name]
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.ravel()[0]
    if isinstance(value, bytes | np.bytes_):
        value = value.decode("utf-8", "replace")
    return str(value).strip()


def scalar(dataset: h5py.Dataset, where: str) -> float | None:
    """The first value of a numeric dataset as float, or None if it is not numeric/finite."""
    if dataset.dtype.kind not in "iuf" or dataset.size == 0:
        return None
    value = float(read_dataset(dataset, where).ravel()[0])
    return value if np.isfinite(value) else None


def length_um(value: float, units: str | None, default: str = "um") -> float:
    """Convert a length to micrometres; ``units`` from the dataset's ``units`` attribute."""
    return _length(value, units, default, -6)


def length_m(value: float, units: str | None, default: str = "m") -> float:
    """Convert a length to metres; ``units`` from the dataset's ``units`` attribute."""
    return _length(value, units, default, 0)


def _length(value: float, units: str | None, default: str, to_exp: int) -> float:
    key = (units or default).strip().lower()
    if key not in _LENGTH_EXP:
        raise InputError(f"unknown length unit {units!r}; expected one of {sorted(_LENGTH_EXP)}")
    exp = _LENGTH_EXP[key] - to_exp
    return value * 10**exp if exp >= 0 else value / 10 ** (-exp)


def energy_kev(value: float, units: str | None, default: str = "keV") -> float:
    """Convert an energy to keV; ``units`` from the dataset's ``units`` attribute."""
    key = (units or default).strip().lower()
    if key not in _ENERGY_TO_KEV:
        raise InputError(f"unknown energy unit {units!r}; expected one of eV, keV, MeV, GeV, J")
    return value * _ENERGY_TO_KEV[key]


def unwritten_problem(dataset: h5py.Dataset, where: str) -> str | None:
    """Why part of ``dataset`` was never written (an interrupted acquisition), or None.

    Reads only the layout and the chunk index: a chunked dataset must hold every chunk, a
    contiguous one its storage. Unwritten parts would read as the fill value, silently.
    Virtual and compact datasets are not checked.
    """
    if dataset.is_virtual or dataset.size == 0:
        return None
    try:
        if dataset.chunks is None:
            if dataset.id.get_offset() is None and dataset.id.get_storage_size() == 0:
                return f"{where}: no data written (storage not allocated; file incomplete?)"
            return None
        expected = 1
        for n, c in zip(dataset.shape, dataset.chunks, strict=True):
            expected *= -(-n // c)
        written = dataset.id.get_num_chunks()
    except (OSError, RuntimeError, ValueError) as exc:
        return f"{where}: cannot read the dataset's layout (file truncated or corrupt?): {exc}"
    if written < expected:
        return (
            f"{where}: only {written} of {expected} chunks are written (file incomplete?); "
            f"the rest would read as {dataset.fillvalue}"
        )
    return None
