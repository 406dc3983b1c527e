"""Streaming access to a raw scan: headers when it opens, pixel data one block of frames at a time.

:func:`tomosnake.io.open_scan` returns a :class:`ScanReader` of the scan's format. Opening
reads headers and small metadata datasets only (angles, ``image_key``, the TIFF tags of the
frames, the Xradia ``ImageInfo`` streams) and fills :attr:`ScanReader.info`, a
:class:`~tomosnake.io.scaninfo.ScanInfo`. Pixel data are read only when asked for:

- ``projections(a0, a1)``: frames ``a0 .. a1-1`` as (angle, z, x) in the detector dtype,
  reading only those frames (HDF5 hyperslabs, one TIFF file per frame, one OLE stream per
  image);
- ``flat_mean(which)``, ``dark_mean()``: float32 (z, x) means summed over blocks of at most
  :data:`BLOCK_BYTES` of frames, so memory is one block however many flats there are;
- ``theta()``: rotation angles in radians (float64, one per projection);
- ``shifts()``: per-projection alignment shifts (dy, dx) in pixels (Zeiss) or None;
- ``read()``: the whole scan as a :class:`~tomosnake.io.rawscan.RawScan` (what
  :func:`tomosnake.io.read_scan` returns: one code path for both).

What the headers show wrong is in ``info.problems``, one sentence each naming the file and
dataset. Missing flat or dark fields are only a warning when reading (the projections may be
normalised already; the preflight decides with the ``preprocess.no_flats``/``no_darks``
settings); any other problem stops reading: pixel reads, ``theta()`` and ``read()`` raise
InputError with it, so a broken scan never gives silently wrong numbers.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from tomosnake.errors import ConfigError, InputError
from tomosnake.io import iocount
from tomosnake.io.rawscan import RawScan
from tomosnake.io.scaninfo import ScanInfo
from tomosnake.io.validate import dtype_problem, require_finite

#: frame kinds: projections, flat (white) fields, dark fields
KINDS = ("proj", "flat", "dark")
#: most bytes of detector frames one streaming step holds (flat_mean, dark_mean)
BLOCK_BYTES = 256 * 2**20
_MISSING = re.compile(r": no (flat|dark) fields \(")


def missing_frames(problem: str) -> str | None:
    """``"flat"`` or ``"dark"`` if ``problem`` says the scan has none of them, else None.

    Readers word these two problems ``"{where}: no flat fields ({detail})"`` and
    ``"{where}: no dark fields ({detail})"``; they are warnings when reading, not errors.
    """
    m = _MISSING.search(problem)
    return m.group(1) if m else None


_WHY = {
    "flat": "normalisation needs them unless the projections are already normalised",
    "dark": "normalisation subtracts them from projections and flats",
}


def missing_sentence(where: str, kind: str, detail: str) -> str:
    """The problem sentence for a scan without ``kind`` ("flat" or "dark") fields."""
    return f"{where}: no {kind} fields ({detail}); {_WHY[kind]}"


def theta_range(theta_deg: np.ndarray | None) -> tuple[float | None, float | None, float | None]:
    """(first, last, span) in degrees; the span includes one angular step (n angles over
    [0, 180) span 180), None for fewer than two angles."""
    if theta_deg is None or theta_deg.size == 0:
        return None, None, None
    first, last = float(theta_deg[0]), float(theta_deg[-1])
    n = theta_deg.size
    span = float(np.ptp(theta_deg)) * n / (n - 1) if n > 1 else None
    return first, last, span


def flat_position(flat_after: np.ndarray | None, n_proj: int) -> str:
    """Where the flats were taken, from the number of projections acquired before each flat."""
    if flat_after is None or flat_after.size == 0:
        return "unknown"
    if np.all(flat_after == 0):
        return "before"
    if np.all(flat_after == n_proj):
        return "after"
    if np.all((flat_after == 0) | (flat_after == n_proj)):
        return "both"
    return "interleaved"


class ScanReader:
    """An open raw scan (see module docstring); use as a context manager.

    Subclasses implement :meth:`_open` (read headers, return the ScanInfo), :meth:`_read`
    (frames of one kind at given indices) and :meth:`_where` (file:dataset label of a kind),
    and may set ``flat_after`` (per flat frame, the number of projections acquired before it;
    None when the file does not say), ``notes`` (warnings :meth:`read` gives) and ``deps``
    (files and folders the header facts come from: the metadata cache checks them).
    """

    def __init__(self, path: str | os.PathLike[str], **options: Any) -> None:
        self.path = Path(path)
        self.meta: dict[str, Any] = {}
        self.notes: list[str] = []
        self.deps: list[Path] = [self.path]
        self.flat_after: np.ndarray | None = None
        self._theta: np.ndarray | None = None
        self._stack = contextlib.ExitStack()
        try:
            self.info: ScanInfo = self._open(**options)
        except BaseException:
            self.close()
            raise

    # -- what a format implements ------------------------------------------------------
    def _open(self, **options: Any) -> ScanInfo:
        raise NotImplementedError

    def _read(self, kind: str, index: np.ndarray) -> np.ndarray:
        """Frames ``index`` (sorted, within 0 .. count(kind)) of ``kind`` as (n, z, x)."""
        raise NotImplementedError

    def _where(self, kind: str) -> str:
        raise NotImplementedError

    def shifts(self) -> np.ndarray | None:
        """Per-projection alignment shifts (dy, dx) in pixels, float64 (n_proj, 2), or None.

        Shifting projection i's content by (dy, dx) aligns it. tomosnake's writers record a
        simulated stage drift in the metadata as ``alignment_shifts_px`` (how far the content
        moved); its correction is the negative.
        """
        drift = self.meta.get("alignment_shifts_px")
        return None if drift is None else -np.asarray(drift, dtype=np.float64).reshape(-1, 2)

    def _recorded_flat_order(self, n_flat: int, n_proj: int) -> None:
        """Set ``flat_after`` from ``n_flats_before``/``n_flats_after`` in the metadata
        (written by tomosnake's DXchange and TIFF writers) when they account for every flat."""
        before, after = self.meta.get("n_flats_before"), self.meta.get("n_flats_after")
        if isinstance(before, int) and isinstance(after, int) and before + after == n_flat:
            self.flat_after = np.array([0] * before + [n_proj] * after)

    # -- context manager ---------------------------------------------------------------
    def close(self) -> None:
        """Close the scan's files."""
        self._stack.close()

    def __enter__(self) -> ScanReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- shared by every format ---------------------------------------------------------
    def _make_info(
        self,
        fmt: str,
        shape: tuple[int, int, int],
        dtype: np.dtype,
        n_flat: int,
        n_dark: int,
        problems: list[str],
        n_theta: int,
        alignment_shifts: bool = False,
    ) -> ScanInfo:
        """ScanInfo from the header facts; ``self._theta`` (radians) is set when the angles
        are usable (their count may still differ from the projections': a problem)."""
        problem = dtype_problem(dtype, self._where("proj"))
        if problem:
            problems.insert(0, problem)
        if min(shape) < 1:
            problems.insert(0, f"{self._where('proj')}: no projection data (shape {tuple(shape)})")
        theta_deg = None if self._theta is None else np.rad2deg(self._theta)
        first, last, span = theta_range(theta_deg)
        return ScanInfo(
            source=str(self.path),
            format=fmt,
            n_proj=int(shape[0]),
            n_rows=int(shape[1]),
            n_cols=int(shape[2]),
            dtype=np.dtype(dtype).name,
            n_theta=int(n_theta),
            theta_first_deg=first,
            theta_last_deg=last,
            theta_span_deg=span,
            n_flat=int(n_flat),
            n_dark=int(n_dark),
            flat_position=flat_position(self.flat_after, int(shape[0])) if n_flat else "unknown",
            pixel_size_um=self.meta.get("pixel_size_um"),
            energy_kev=self.meta.get("energy_kev"),
            distance_m=self.meta.get("distance_m"),
            alignment_shifts=bool(alignment_shifts),
            problems=tuple(problems),
        )

    def count(self, kind: str) -> int:
        """Number of frames of ``kind`` ("proj", "flat", "dark")."""
        if kind not in KINDS:
            raise ConfigError(f"frame kind {kind!r} is not one of {list(KINDS)}")
        return {"proj": self.info.n_proj, "flat": self.info.n_flat, "dark": self.info.n_dark}[kind]

    def fatal_problems(self) -> list[str]:
        """The problems that stop reading (all but missing flats/darks)."""
        return [p for p in self.info.problems if missing_frames(p) is None]

    def _require_readable(self) -> None:
        fatal = self.fatal_problems()
        if fatal:
            more = f" (and {len(fatal) - 1} more problem(s))" if len(fatal) > 1 else ""
            raise InputError(fatal[0] + more)

    def frames(self, kind: str, i0: int = 0, i1: int | None = None) -> np.ndarray:
        """Frames ``i0 .. i1-1`` of ``kind`` as (n, z, x) in the detector dtype."""
        n = self.count(kind)
        i1 = n if i1 is None else int(i1)
        i0 = int(i0)
        if not 0 <= i0 <= i1 <= n:
            raise ConfigError(
                f"{self.path}: {kind} frames {i0}..{i1} out of range (the scan has {n})"
            )
        self._require_readable()
        if i0 == i1:
            return np.empty((0, self.info.n_rows, self.info.n_cols), dtype=self.info.dtype)
        block = self._read(kind, np.arange(i0, i1))
        where = self._where(kind)
        if block.shape != (i1 - i0, self.info.n_rows, self.info.n_cols):
            raise InputError(
                f"{where}: frames {i0}..{i1 - 1} have shape {block.shape[1:]}, expected "
                f"{(self.info.n_rows, self.info.n_cols)}"
            )
        require_finite(block, where, offset=i0)
        iocount.add("raw", block.nbytes)
        return block

    def projections(self, a0: int, a1: int) -> np.ndarray:
        """Projections ``a0 .. a1-1`` (angle, z, x) in the detector dtype, reading only those."""
        return self.frames("proj", a0, a1)

    def theta(self) -> np.ndarray:
        """Rotation angle of each projection, radians, float64 (n_proj,)."""
        self._require_readable()
        if self._theta is None:  # a reader leaves it None only with a problem saying why
            raise InputError(f"{self.path}: no usable rotation angles")
        return self._theta.copy()

    def block_frames(self) -> int:
        """Frames per streaming block: as many as fit in :data:`BLOCK_BYTES` (at least 1)."""
        frame = self.info.n_rows * self.info.n_cols * self.info.itemsize
        return max(1, BLOCK_BYTES // max(frame, 1))

    def blocks(self, kind: str, i0: int = 0, i1: int | None = None) -> Iterator[np.ndarray]:
        """Frames ``i0 .. i1-1`` of ``kind`` one block (:meth:`block_frames`) at a time."""
        i1 = self.count(kind) if i1 is None else i1
        step = self.block_frames()
        for a in range(i0, i1, step):
            yield self.frames(kind, a, min(a + step, i1))

    def _mean(self, kind: str, i0: int, i1: int) -> np.ndarray | None:
        if i1 <= i0:
            return None
        total = np.zeros((self.info.n_rows, self.info.n_cols), dtype=np.float64)
        for block in self.blocks(kind, i0, i1):
            total += block.sum(axis=0, dtype=np.float64)
        return (total / (i1 - i0)).astype(np.float32)

    def flat_mean(self, which: str = "all") -> np.ndarray | None:
        """Mean flat field, float32 (z, x), or None without flats (of that position).

        ``which``: ``"all"``; ``"before"`` or ``"after"``: only the flats taken before the
        first or after the last projection (files that record the order: NeXus image_key).
        """
        n = self.info.n_flat
        if which == "all":
            return self._mean("flat", 0, n)
        if which not in ("before", "after"):
            raise ConfigError(f"flat_mean which={which!r}: expected 'all', 'before' or 'after'")
        if n == 0:
            return None
        if self.flat_after is None:
            raise InputError(
                f"{self.path}: the file does not record when its flats were taken "
                f"(flat_position unknown); only which='all' is possible"
            )
        if which == "before":
            return self._mean("flat", 0, int(np.count_nonzero(self.flat_after == 0)))
        after = int(np.count_nonzero(self.flat_after == self.info.n_proj))
        return self._mean("flat", n - after, n)

    def dark_mean(self) -> np.ndarray | None:
        """Mean dark field, float32 (z, x), or None without darks."""
        return self._mean("dark", 0, self.info.n_dark)

    def read(self) -> RawScan:
        """The whole scan in memory (warns about missing flats/darks, raises on any problem)."""
        self._require_readable()
        for message in [*self.notes, *self.info.problems]:
            warnings.warn(message, stacklevel=3)
        proj = self.frames("proj")
        flat = self.frames("flat") if self.info.n_flat else None
        dark = self.frames("dark") if self.info.n_dark else None
        return RawScan(proj=proj, theta=self.theta(), flat=flat, dark=dark, meta=dict(self.meta))
