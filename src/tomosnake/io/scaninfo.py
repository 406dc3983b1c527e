"""What a raw scan is, read from its headers only: :class:`ScanInfo`.

The workflow sizes its jobs (``tomosnake.layout``) and checks every scan before the first
job (``tomosnake.preflight``) from this record, never from the pixel data. Projections are
(angle, z, x): ``n_proj`` frames of ``n_rows`` detector rows by ``n_cols`` columns.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

#: where flat fields were taken relative to the projections
FLAT_POSITIONS = ("before", "after", "both", "interleaved", "unknown")


@dataclass(frozen=True)
class ScanInfo:
    """Header facts of one raw scan (no pixel data read).

    Attributes:
        source: the scan's path as given (file or folder).
        format: reader name (dxchange, nexus, tiff, txrm, xrm, simulated).
        n_proj, n_rows, n_cols: projection stack shape (angle, z, x).
        dtype: detector data type of the projections (numpy name, e.g. ``uint16``).
        n_theta: rotation angles found (must equal ``n_proj``).
        theta_first_deg, theta_last_deg: first and last angle in degrees (None if unknown).
        theta_span_deg: angular range covered, one angular step included (180 for a
            standard scan of n angles over [0, 180)); None if unknown.
        n_flat, n_dark: numbers of flat and dark frames.
        flat_position: where the flats were taken: before/after/both/interleaved/unknown.
        pixel_size_um: detector pixel (= voxel) size in micrometres, or None.
        energy_kev, distance_m: beam energy (keV) and propagation distance (m), or None.
        alignment_shifts: the file carries per-projection alignment shifts (Zeiss).
        problems: what the header reading found wrong, one sentence each.
    """

    source: str
    format: str
    n_proj: int
    n_rows: int
    n_cols: int
    dtype: str
    n_theta: int
    theta_first_deg: float | None = None
    theta_last_deg: float | None = None
    theta_span_deg: float | None = None
    n_flat: int = 0
    n_dark: int = 0
    flat_position: str = "unknown"
    pixel_size_um: float | None = None
    energy_kev: float | None = None
    distance_m: float | None = None
    alignment_shifts: bool = False
    problems: tuple[str, ...] = field(default=())

    @property
    def shape(self) -> tuple[int, int, int]:
        """Projection stack shape (angle, z, x)."""
        return (self.n_proj, self.n_rows, self.n_cols)

    @property
    def itemsize(self) -> int:
        """Bytes per detector value."""
        import numpy as np

        return int(np.dtype(self.dtype).itemsize)

    @property
    def raw_bytes(self) -> int:
        """Bytes of the projections as stored (flats and darks not included)."""
        return self.n_proj * self.n_rows * self.n_cols * self.itemsize

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the metadata cache stores this)."""
        d = dataclasses.asdict(self)
        d["problems"] = list(self.problems)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScanInfo:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["problems"] = tuple(d.get("problems", ()))
        return cls(**d)
