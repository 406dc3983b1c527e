"""The beamtime as the workflow plans it: scans, their settings, shapes, jobs and resources.

``workflow/rules/common.smk`` builds one :class:`Beamtime` when Snakemake starts. Everything
it knows comes from the config, the scan sheet and the raw files' headers (read once and
cached, never the pixel data), so the number of jobs per scan and each job's memory and run
time are known before the first job, and every problem of every scan is reported at once
(:meth:`Beamtime.preflight`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from tomosnake.config import validate_config
from tomosnake.errors import ConfigError
from tomosnake.io.scaninfo import ScanInfo
from tomosnake.layout import JobSize, Layout, job_sizes, plan, pyramid_levels
from tomosnake.preflight import SIM_PATTERN
from tomosnake.scansheet import read_scan_sheet, scan_settings
from tomosnake.training import TrainingSet, model_of, training_sets

#: settings that were renamed: old key -> message
RENAMED = {
    "recon.slabs": "recon.slabs was replaced by layout.slab_rows (detector rows per job, "
                   "default 64) or layout.slabs (jobs per scan)",
    "segment.chunks": "segment.chunks was replaced by layout.slab_rows (detector rows per job, "
                      "default 64) or layout.slabs (jobs per scan)",
    "morph.voxel_size_um": "morph.voxel_size_um was replaced by the scan sheet's voxel_size_um "
                           "column (it is applied at ingest, so every stage sees it)",
}


def refuse_renamed(config: Mapping[str, Any], where: str) -> None:
    """ConfigError naming the new key for any renamed setting in ``config``."""
    for old, message in RENAMED.items():
        section, key = old.split(".")
        if isinstance(config.get(section), Mapping) and key in config[section]:
            raise ConfigError(f"{where}: {message}")


class Beamtime:
    """Scans of a beamtime with their settings, header facts and job layout.

    Args:
        config: the workflow config (validated, defaults filled).
        cache_dir: where header facts of raw scans are cached (None: not cached).
    """

    def __init__(self, config: Mapping[str, Any], cache_dir: str | os.PathLike[str] | None = None
                 ) -> None:
        refuse_renamed(config, "config")
        self.config = validate_config(config)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.scans = read_scan_sheet(self.config["scans"])
        for scan, row in self.scans.items():
            refuse_renamed({k.split(".")[0]: {k.split(".", 1)[1]: v} for k, v in row.items()
                            if "." in k}, f"{self.config['scans']} (scan {scan!r})")
        self.settings = {s: scan_settings(self.config, row) for s, row in self.scans.items()}

    # -- simulated scans -------------------------------------------------------------
    def sim_name(self, scan: str) -> str | None:
        """Name of the simulated scan (``simulate`` config) a scan's path refers to, or None."""
        m = SIM_PATTERN.match(self.scans[scan]["path"])
        return m.group("name") if m and m.group("name") in self.config["simulate"] else None

    @property
    def simulated(self) -> list[str]:
        """Scans made by the simulator (they have ground truth)."""
        return [s for s in self.scans if self.sim_name(s)]

    def truth_of(self, scan: str) -> str:
        """Ground-truth store the simulator writes beside a simulated scan."""
        path = Path(self.scans[scan]["path"])
        return str(path.with_name(f"{path.name.removesuffix('.h5')}_truth.zarr"))

    @cached_property
    def infos(self) -> dict[str, ScanInfo]:
        """Header facts of every scan (simulated ones from their settings), after checking
        every scan: one PreflightError lists all problems of all scans."""
        from tomosnake.preflight import preflight, simulated_infos

        return preflight(self.config, self.scans, self.settings, cache_dir=self.cache_dir,
                         simulated=simulated_infos(self.config, self.scans))

    def layout(self, scan: str) -> Layout:
        """Jobs and chunks of a scan (see :mod:`tomosnake.layout`)."""
        info = self.infos[scan]
        lay = self.settings[scan]["layout"]
        return plan(info.n_proj, info.n_rows, info.n_cols, lay["slab_rows"], lay["slabs"])

    def out_width(self, scan: str) -> int:
        """Width of the reconstructed slices (crop, else the detector width)."""
        return self.settings[scan]["recon"]["crop"] or self.infos[scan].n_cols

    def levels(self, scan: str) -> int:
        """OME-Zarr pyramid levels of a scan's volume."""
        n = self.out_width(scan)
        return pyramid_levels((self.infos[scan].n_rows, n, n))

    def sizes(self, scan: str, threads: Mapping[str, int]) -> dict[str, JobSize]:
        """Per-rule job counts and resources of a scan."""
        return job_sizes(
            self.layout(scan), threads, self.out_width(scan), self.settings[scan]["morph"]
        )

    @cached_property
    def models(self) -> dict[str, TrainingSet]:
        """Segmentation models to train: model path -> what trains it (checked; see
        :mod:`tomosnake.training`)."""
        return training_sets(self.config, self.settings, set(self.simulated))

    def model_of(self, scan: str) -> str | None:
        """The model file that segments a scan (None for otsu)."""
        return model_of(self.settings[scan])

    def preflight(self) -> None:
        """Check every scan before any job (raises one error listing every problem), then
        what trains the segmentation models."""
        _ = self.infos
        _ = self.models

