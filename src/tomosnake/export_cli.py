"""``tomosnake export``: a volume (a level of a scan's OME-Zarr) as a TIFF stack for Avizo/FIJI.

The workflow keeps each volume once, in ``results/{scan}/scan.ome.zarr``; users of programs
that read TIFF get a multi-page (Big)TIFF on request, written slab by slab (memory: one slab),
with the voxel size in the resolution tags (micrometres).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import tifffile

from tomosnake.errors import ConfigError, InputError
from tomosnake.io import atomic_output, open_volume, volume_attrs
from tomosnake.progress import track

SLAB_BYTES = 256 * 2**20


def _volume_path(path: Path, level: int, labels: bool) -> tuple[Path, float | None]:
    """The array store to export (``path``, or a level of an OME-Zarr group) and, for an
    OME-Zarr level, its voxel size in micrometres from the multiscales metadata."""
    import json

    meta = path / "zarr.json"
    doc = json.loads(meta.read_text()) if meta.is_file() else {}
    if doc.get("node_type") != "group":
        if labels or level:
            raise ConfigError(f"{path}: --level and --labels need an OME-Zarr group")
        return path, None
    group = path / "labels" / "phases" if labels else path
    gdoc = json.loads((group / "zarr.json").read_text()) if (group / "zarr.json").is_file() else {}
    for ms in gdoc.get("attributes", {}).get("ome", {}).get("multiscales", [])[:1]:
        for ds in ms["datasets"]:
            if ds["path"] == str(level):
                return group / str(level), float(ds["coordinateTransformations"][0]["scale"][-1])
    raise ConfigError(f"{group}: no pyramid level {level} in its multiscales metadata")


def _z_range(text: str | None, nz: int) -> tuple[int, int]:
    if not text:
        return 0, nz
    try:
        a, b = (int(v) if v else None for v in text.split(":"))
    except ValueError:
        raise ConfigError(f"--z {text!r}: expected START:STOP (slice indices)") from None
    a, b = a or 0, nz if b is None else b
    if not 0 <= a < b <= nz:
        raise ConfigError(f"--z {text!r}: outside the volume's 0..{nz} slices")
    return a, b


def export_tiff(volume: str | Path, out: str | Path, z: tuple[int, int] | None = None,
                voxel_size_um: float | None = None) -> Path:
    """Write slices ``z`` of a (z, y, x) volume store as one multi-page TIFF, atomically."""
    vol = open_volume(volume)
    if vol.ndim != 3:
        raise InputError(f"{volume}: expected a (z, y, x) volume, got shape {vol.shape}")
    z0, z1 = z or (0, vol.shape[0])
    vs = voxel_size_um or volume_attrs(vol).get("voxel_size_um")
    plane = int(np.prod(vol.shape[1:])) * vol.dtype.itemsize
    step = max(1, SLAB_BYTES // max(plane, 1))
    big = (z1 - z0) * plane > 2**31
    extra = {"resolution": (1 / vs, 1 / vs), "resolutionunit": "MICROMETER"} if vs else {}
    with atomic_output(out) as tmp, tifffile.TiffWriter(tmp, bigtiff=big) as tif:
        for a in track(range(z0, z1, step), f"exporting {volume}"):
            for page in np.asarray(vol[a : min(a + step, z1)]):
                tif.write(page, photometric="minisblack", contiguous=True, **extra)
    return Path(out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tomosnake export``."""
    parser.add_argument("volume", type=Path,
                        help="results/SCAN/scan.ome.zarr (or any zarr volume store)")
    parser.add_argument("output", type=Path, help="TIFF file to write (.tif)")
    parser.add_argument("--level", type=int, default=0,
                        help="pyramid level of an OME-Zarr (0 = full resolution)")
    parser.add_argument("--labels", action="store_true",
                        help="export the segmentation (labels/phases) instead of the image")
    parser.add_argument("--z", help="slices START:STOP (default: all)")


def run(args: argparse.Namespace) -> int:
    """Export and print what was written."""
    src, voxel = _volume_path(args.volume, args.level, args.labels)
    vol = open_volume(src)
    z = _z_range(args.z, vol.shape[0])
    out = export_tiff(src, args.output, z, voxel)
    print(f"{out}: {z[1] - z[0]} slices of {vol.shape[1]} x {vol.shape[2]} {vol.dtype}")
    return 0
