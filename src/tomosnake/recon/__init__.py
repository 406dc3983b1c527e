"""Tomographic reconstruction in tomopy's conventions: gridrec, FBP, iterative methods.

Arrays: projections (angle, z, x) as line integrals, angles in radians, volumes
(z, y, x) in attenuation per voxel length. The rotation centre is a detector
column coordinate (column j spans [j, j+1); default n_det / 2).
"""

from tomosnake.recon.api import ALGORITHMS, reconstruct
from tomosnake.recon.filters import FILTERS
from tomosnake.recon.project import forward_project, projection_matrix

__all__ = ["ALGORITHMS", "FILTERS", "forward_project", "projection_matrix", "reconstruct"]
