"""Numbers pulled out of ``morphology.json`` dicts whose exact schema may grow.

Known keys (schema ``tomosnake.morphology/1`` of :mod:`tomosnake.morph`, and simpler
forms): volume fractions in ``fractions.fractions`` {phase: fraction} or
``volume_fraction`` {phase: fraction}; ``tortuosity`` {phase: value | {axis: value |
{"tau": value or null (= infinite), "flag": ..., ...}}}. Size distributions are found
anywhere as a dict holding a size axis (key with "edge", "diameter", "radius", "size",
"bin", "thickness"; bin edges preferred) and an equally long (or one shorter) weight list
(key with "count", "freq", "fraction", "volume", "pdf", "cdf"), e.g.
``sizes.thickness.{phase}`` = {"bin_edges_um": [...], "fraction": [...]}. Everything
else is shown generically.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

TAU_KEYS = ("tortuosity", "tortuosity_factor", "tau")
SIZE_AXIS_WORDS = ("edge", "diameter", "radius", "size", "bin", "thickness")
WEIGHT_WORDS = ("count", "freq", "fraction", "volume", "pdf", "cdf", "density", "number")


def is_number(value: Any) -> bool:
    """True for finite real numbers (bools excluded)."""
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and bool(np.isfinite(value))
    )


def flatten_numbers(node: Any, prefix: str = "", max_list: int = 0) -> dict[str, float]:
    """Numeric leaves of nested dicts as {"a.b.c": value}; lists are skipped.

    ``max_list`` > 0 keeps lists of at most that many numbers as ``key[i]`` entries.
    """
    out: dict[str, float] = {}
    if is_number(node):
        out[prefix] = float(node)
    elif isinstance(node, Mapping):
        for key, value in node.items():
            out.update(flatten_numbers(value, f"{prefix}.{key}" if prefix else str(key), max_list))
    elif isinstance(node, list) and 0 < len(node) <= max_list and all(map(is_number, node)):
        out.update({f"{prefix}[{i}]": float(v) for i, v in enumerate(node)})
    return out


def volume_fractions(morph: Mapping[str, Any]) -> dict[str, float]:
    """Phase -> volume fraction (0..1) from ``fractions.fractions`` or ``volume_fraction``."""
    nested = morph.get("fractions")
    vf = nested.get("fractions") if isinstance(nested, Mapping) else None
    vf = vf or morph.get("volume_fraction") or {}
    return (
        {str(k): float(v) for k, v in vf.items() if is_number(v)} if isinstance(vf, Mapping) else {}
    )


def _tau_value(node: Any) -> float | None:
    if is_number(node):
        return float(node)
    if isinstance(node, Mapping):
        for key in TAU_KEYS + ("value",):
            if is_number(node.get(key)):
                return float(node[key])
    return None


def tortuosities(morph: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Phase -> {axis: tortuosity factor} (axis "" when a phase has a single value)."""
    tau = next((morph[k] for k in TAU_KEYS if isinstance(morph.get(k), Mapping)), {})
    out: dict[str, dict[str, float]] = {}
    for phase, node in tau.items():
        single = _tau_value(node)
        if single is not None:
            out[str(phase)] = {"": single}
        elif isinstance(node, Mapping):
            axes = {str(a): _tau_value(v) for a, v in node.items()}
            axes = {a: v for a, v in axes.items() if v is not None}
            if axes:
                out[str(phase)] = axes
    return out


def tortuosity_flags(morph: Mapping[str, Any]) -> list[str]:
    """Warnings stored with tortuosity results (non-percolating, not converged, ...)."""
    tau = next((morph[k] for k in TAU_KEYS if isinstance(morph.get(k), Mapping)), {})
    out = []
    for phase, node in tau.items():
        entries = node.items() if isinstance(node, Mapping) else []
        for axis, entry in entries:
            if isinstance(entry, Mapping) and entry.get("flag"):
                out.append(f"tortuosity {phase} {axis}: {entry['flag']}")
    return out


def fit_bruggeman(eps: np.ndarray, tau: np.ndarray) -> float | None:
    """Least-squares exponent beta of tau = eps**(-beta) (fit of log tau on log eps).

    The Bruggeman exponent of ``tomosnake.morph`` (D_eff / D = eps / tau = eps**alpha)
    is alpha = 1 + beta.

    Points need 0 < eps < 1 and tau > 0; None when none remain.
    """
    eps, tau = np.asarray(eps, float), np.asarray(tau, float)
    ok = (eps > 0) & (eps < 1) & (tau > 0) & np.isfinite(eps) & np.isfinite(tau)
    if not ok.any():
        return None
    le, lt = np.log(eps[ok]), np.log(tau[ok])
    return float(-(le @ lt) / (le @ le))


def size_distributions(node: Any, prefix: str = "") -> dict[str, tuple]:
    """Every (sizes, weights, size_key, weight_key) curve found in ``node``, by dotted path."""
    out: dict[str, tuple] = {}
    if not isinstance(node, Mapping):
        return out
    lists = {
        str(k): np.asarray(v, float)
        for k, v in node.items()
        if isinstance(v, list) and len(v) > 1 and all(map(is_number, v))
    }
    sizes = next(
        (k for w in SIZE_AXIS_WORDS for k in lists if w in k.lower()), None
    )  # the first word that matches wins: bin edges before raw diameters
    weights = next(
        (k for k in lists if k != sizes and any(w in k.lower() for w in WEIGHT_WORDS)), None
    )
    if sizes and weights:
        x, y = lists[sizes], lists[weights]
        if len(x) == len(y) + 1:  # bin edges -> centres
            x, sizes = (x[:-1] + x[1:]) / 2, f"{sizes} (bin centres)"
        if len(x) == len(y):
            out[prefix or sizes] = (x, y, sizes, weights)
    for key, value in node.items():
        out.update(size_distributions(value, f"{prefix}.{key}" if prefix else str(key)))
    return out
