"""Snakemake: multiscale OME-Zarr of the reconstruction with its labels."""

import sys
from pathlib import Path

# import the library from this checkout too when a conda env (not .venv) runs the job
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from tomosnake.smk import run_script
from tomosnake.viz import write_ome_zarr

sm = snakemake  # noqa: F821
run_script(sm, lambda: write_ome_zarr(sm.input.recon, sm.input.labels, sm.output[0]))
