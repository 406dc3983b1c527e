"""Snakemake: raw.zarr -> prep.zarr (normalised, cleaned, centred line integrals)."""

import sys
from pathlib import Path

# import the library from this checkout too when a conda env (not .venv) runs the job
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.preprocess(sm.input[0], sm.output[0], **sm.params.prep))
