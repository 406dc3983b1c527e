"""Array backend: NumPy on the CPU, CuPy on a CUDA GPU, chosen once at the edge.

The reconstruction code is written once against the module ``xp`` (NumPy's API,
which CuPy mirrors) and the matching sparse-matrix module; :func:`get_backend`
picks them. CuPy is imported lazily, only when a GPU is asked for or ``"auto"``
finds one.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import scipy.fft
import scipy.sparse

from tomosnake import threads
from tomosnake.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True, eq=False)
class Backend:
    """The array module ``xp``, its sparse-matrix and FFT modules and the device name.

    ``fft`` follows ``scipy.fft`` (single precision stays single precision);
    :attr:`fft_kwargs` are extra arguments for its transforms.
    """

    xp: ModuleType
    sparse: ModuleType
    fft: ModuleType
    device: str

    @property
    def fft_kwargs(self) -> dict[str, Any]:
        """``workers``: the job's thread count (:func:`tomosnake.threads.current`) on the CPU."""
        return {"workers": threads.current()} if self.device == "cpu" else {}

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """Move ``a`` to this backend's device."""
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a: Any) -> np.ndarray:
        """Bring ``a`` back to host memory as a NumPy array."""
        return a.get() if hasattr(a, "get") and self.device == "cuda" else np.asarray(a)


CPU = Backend(np, scipy.sparse, scipy.fft, "cpu")


@functools.lru_cache(maxsize=1)
def _cupy_backend() -> Backend | None:
    try:
        import cupy
        import cupyx.scipy.fft
        import cupyx.scipy.sparse

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
    except Exception:  # no CuPy, no driver or no device: all mean "no GPU"
        return None
    return Backend(cupy, cupyx.scipy.sparse, cupyx.scipy.fft, "cuda")


def get_backend(device: str = "auto") -> Backend:
    """Backend for ``device``: "cpu", "cuda" (NumPy with a warning if no GPU) or "auto"."""
    if device not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu":
        return CPU
    gpu = _cupy_backend()
    if gpu is not None:
        return gpu
    if device == "cuda":
        warnings.warn(
            "device='cuda' requested but CuPy or a CUDA GPU is not available; "
            "using NumPy on the CPU",
            RuntimeWarning,
            stacklevel=3,
        )
    return CPU
