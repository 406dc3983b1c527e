"""Tomographic reconstruction in tomopy's conventions: gridrec, FBP, SIRT, CGLS; CPU or GPU.

Arrays: projections (angle, z, x) as line integrals, angles in radians, volumes
(z, y, x) in attenuation per voxel length. The rotation centre is a detector
column coordinate (column j spans [j, j+1); default n_det / 2).
"""

from tomosnake.recon.api import ALGORITHMS, reconstruct
from tomosnake.recon.backend import Backend, get_backend
from tomosnake.recon.filters import FILTERS, filter_response
from tomosnake.recon.frc import fourier_ring_correlation, frc_resolution
from tomosnake.recon.project import forward_project, projection_matrix
from tomosnake.recon.slabs import crop_center, reconstruct_rows, reconstruct_store
from tomosnake.recon.sweep import center_sweep, read_sweep_tiff, write_sweep_tiff
from tomosnake.recon.units import per_micrometre

__all__ = [
    "ALGORITHMS",
    "FILTERS",
    "Backend",
    "center_sweep",
    "filter_response",
    "fourier_ring_correlation",
    "frc_resolution",
    "forward_project",
    "get_backend",
    "per_micrometre",
    "projection_matrix",
    "read_sweep_tiff",
    "reconstruct",
    "crop_center",
    "reconstruct_rows",
    "reconstruct_store",
    "write_sweep_tiff",
]
