"""How many CPU threads tomosnake code may use, and making every pool honour it.

A Snakemake job promises ``threads`` CPUs; eight grouped chunk jobs on one node must not
each take every core. :func:`use_threads` sets the number for everything a job runs:

- BLAS and OpenMP pools (threadpoolctl), which numpy, scipy and scikit-learn use;
- ``scipy.fft``'s default ``workers`` (code passes no ``workers``, or :func:`current`);
- torch's intra-op pool (set now if torch is imported, else through ``OMP_NUM_THREADS``,
  which torch reads when it is imported later);
- zarr's codec thread pool (``threading.max_workers``);
- anything that asks :func:`current` (edt's ``parallel``, scikit-learn's ``n_jobs``,
  tomosnake's own slice pools).

Outside :func:`use_threads`, :func:`current` is the number of CPUs this process may run on
(its affinity mask), so library calls from Python use the machine as before.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import scipy.fft
import zarr
from threadpoolctl import threadpool_limits

_current: int | None = None
#: read by OpenMP/BLAS runtimes (and torch) that start after the limit is set
_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def available() -> int:
    """CPUs this process may run on (its affinity mask; os.cpu_count() where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def current() -> int:
    """Threads the running code may use: the innermost :func:`use_threads`, else all CPUs."""
    return _current if _current is not None else available()


def _torch():
    return sys.modules.get("torch")  # only configure torch when something imported it


@contextlib.contextmanager
def use_threads(n: int) -> Iterator[int]:
    """Run the body with exactly ``n`` threads in every pool listed in the module docstring."""
    global _current
    n = max(1, int(n))
    saved = _current
    torch = _torch()
    zarr_saved = zarr.config.get("threading.max_workers")
    env_saved = {k: os.environ.get(k) for k in _ENV}
    _current = n
    os.environ.update({k: str(n) for k in _ENV})
    try:
        with threadpool_limits(limits=n), scipy.fft.set_workers(n), zarr.config.set(
            {"threading.max_workers": n}
        ):
            if torch is not None:
                torch.set_num_threads(n)
            yield n
    finally:
        _current = saved
        for k, v in env_saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        zarr.config.set({"threading.max_workers": zarr_saved})
        torch = _torch()  # imported before or inside the body
        if torch is not None:
            torch.set_num_threads(current())
