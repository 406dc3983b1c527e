"""Counting the bytes a job reads: zarr chunks and raw detector frames.

:func:`counting` counts, while it is active, the bytes of every zarr chunk read from a local
store (metadata documents excluded) and of every raw frame a scan reader returns, so a job
can report what it read (``tomosnake.smk`` logs it; ``benchmarks/bench_scale.py`` sums it
per stage). Python's own reads (imports, logs) are not counted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from zarr.storage import LocalStore

_counts: dict[str, int] | None = None


def add(kind: str, nbytes: int) -> None:
    """Count ``nbytes`` read of ``kind`` ("zarr" or "raw") if counting is active."""
    if _counts is not None:
        _counts[kind] = _counts.get(kind, 0) + int(nbytes)


@contextlib.contextmanager
def counting() -> Iterator[dict[str, int]]:
    """Count bytes read in the body; yields the live {"zarr": n, "raw": n} dict."""
    global _counts
    original = LocalStore.get

    async def get(self, key, prototype=None, byte_range=None):
        buf = await original(self, key, prototype, byte_range)
        if buf is not None and not key.endswith("zarr.json"):
            add("zarr", len(buf))
        return buf

    saved, _counts = _counts, {"zarr": 0, "raw": 0}
    LocalStore.get = get
    try:
        yield _counts
    finally:
        LocalStore.get = original
        _counts = saved
