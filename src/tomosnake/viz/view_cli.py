"""``tomosnake view SCAN [--results results]``: how to open a scan's OME-Zarr in napari."""

from __future__ import annotations

import argparse
from pathlib import Path

import zarr

from tomosnake.errors import InputError

#: the OME-Zarr of a scan, relative to the results folder (written by the ome_zarr rule)
OME_ZARR = "{scan}/scan.ome.zarr"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tomosnake view``."""
    parser.add_argument("scan", help="scan id (a folder of the results folder)")
    parser.add_argument(
        "--results", type=Path, default=Path("results"), help="results folder (default: results)"
    )


def describe(path: Path) -> str:
    """One line per pyramid level of the OME-Zarr at ``path`` (shape and voxel size in µm)."""
    try:
        group = zarr.open_group(str(path), mode="r")
        ms = group.attrs["ome"]["multiscales"][0]
    except Exception as exc:  # zarr raises several types for unreadable stores
        raise InputError(f"{path}: not an OME-Zarr image written by tomosnake ({exc})") from exc
    lines = []
    for ds in ms["datasets"]:
        scale = ds["coordinateTransformations"][0]["scale"]
        lines.append(
            f"  level {ds['path']}: shape {group[ds['path']].shape}, voxel {scale[0]:g} µm"
        )
    labels = "labels/phases" if "labels" in group else None
    if labels:
        names = [p["name"] for p in group[labels].attrs["ome"]["image-label"]["properties"]]
        lines.append(f"  labels: {', '.join(names)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the napari command line and a Python snippet for the scan's OME-Zarr."""
    path = args.results / OME_ZARR.format(scan=args.scan)
    if not path.exists():
        raise InputError(
            f"{path}: no OME-Zarr for scan {args.scan!r}; build it with "
            f"'snakemake {path}' (or tomosnake.viz.write_ome_zarr)"
        )
    path = path.resolve()
    print(f"OME-Zarr of scan {args.scan}: {path}\n{describe(path)}\n")
    print("Open it in napari (pip install 'napari[all]' napari-ome-zarr):\n")
    print(f"  napari --plugin napari-ome-zarr {path}\n")
    print("or from Python (levels are loaded lazily, chunk by chunk):\n")
    print(
        "  import napari\n"
        "  viewer = napari.Viewer()\n"
        f"  viewer.open({str(path)!r}, plugin='napari-ome-zarr')\n"
        "  napari.run()"
    )
    return 0
