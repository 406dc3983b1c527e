"""Visualisation: per-scan figures, surface meshes, OME-Zarr pyramids and the beamtime report.

Public API (the workflow's viz rules call these):

- :func:`scan_figures` -- orthoslices with scale bar, label overlay, histograms, QC, 3-D render
- :func:`export_meshes` -- one closed binary PLY surface per phase, in micrometres
- :func:`write_ome_zarr` -- multiscale OME-Zarr (NGFF 0.5) of reconstruction and labels
- :func:`build_report` -- the self-contained per-beamtime HTML page
"""

from tomosnake.viz.figures import scan_figures
from tomosnake.viz.meshes import export_meshes, phase_mesh, write_ply
from tomosnake.viz.omezarr import write_ome_zarr
from tomosnake.viz.report import build_report

__all__ = [
    "build_report",
    "export_meshes",
    "phase_mesh",
    "scan_figures",
    "write_ome_zarr",
    "write_ply",
]
