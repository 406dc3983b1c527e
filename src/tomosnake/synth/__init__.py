"""Beamtime simulator: NMC-cathode phantoms with ground truth, and raw scans of them.

Two generators: :mod:`~tomosnake.synth.beamtime` (voxel phantom, Siddon projector, small
scans) and :mod:`~tomosnake.synth.largescan` (analytic shapes, exact line integrals, scans of
any size written block by block; phantoms in :mod:`~tomosnake.synth.presets`).
"""

from tomosnake.synth.beamtime import (
    DEFAULT_MU,
    ScanSpec,
    make_spec,
    simulate_scan,
    truth_path,
    write_from_config,
    write_simulated_scan,
    write_truth,
)
from tomosnake.synth.phantom import PHASES, PhantomSpec, nmc_phantom

__all__ = [
    "DEFAULT_MU",
    "PHASES",
    "PhantomSpec",
    "ScanSpec",
    "make_spec",
    "nmc_phantom",
    "simulate_scan",
    "truth_path",
    "write_from_config",
    "write_simulated_scan",
    "write_truth",
]
