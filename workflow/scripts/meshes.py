"""Snakemake: one surface mesh per phase."""

import sys
from pathlib import Path

# import the library from this checkout too when a conda env (not .venv) runs the job
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from tomosnake.smk import run_script
from tomosnake.viz import export_meshes

sm = snakemake  # noqa: F821
run_script(sm, lambda: export_meshes(sm.input[0], sm.output[0]))
