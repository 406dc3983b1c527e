"""Snakemake: labels.zarr -> morphology.json."""

import sys
from pathlib import Path

# import the library from this checkout too when a conda env (not .venv) runs the job
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
p = sm.params.morph
run_script(sm, lambda: pipeline.morphology(sm.input[0], sm.output[0], p["metrics"],
                                           p.get("voxel_size_um")))
