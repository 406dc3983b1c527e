"""Visualisation: per-scan figures, surface meshes, OME-Zarr pyramids and the beamtime report.

Public API (the workflow's viz rules call these):

- :func:`scan_figures` -- print-ready figures (PNG + SVG) of a scan and ``figures.json``
- :func:`export_meshes` -- closed binary PLY per phase within a size budget, and the
  ``preview.json`` the report's 3-D viewer embeds
- :func:`write_ome_zarr` -- multiscale OME-Zarr (NGFF 0.5) of reconstruction and labels
- :func:`build_report` with :class:`ScanInputs` -- the self-contained beamtime HTML page
"""

from tomosnake.viz.figures import scan_figures
from tomosnake.viz.meshes import export_meshes, phase_mesh, write_ply
from tomosnake.viz.omezarr import write_ome_zarr
from tomosnake.viz.report import build_report
from tomosnake.viz.scans import ScanInputs

__all__ = [
    "ScanInputs",
    "build_report",
    "export_meshes",
    "phase_mesh",
    "scan_figures",
    "write_ome_zarr",
    "write_ply",
]
