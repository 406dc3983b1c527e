"""Snakemake: recon.zarr -> labels of one slab."""

import sys
from pathlib import Path

# import the library from this checkout too when a conda env (not .venv) runs the job
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
p = sm.params.seg
run_script(sm, lambda: pipeline.segment_chunk(sm.input.recon, sm.output[0], int(sm.wildcards.slab),
                                              p["chunks"], model=sm.input.get("model"), **p))
