"""Snakemake: per-scan morphology.json (+ truth checks) -> results/summary.csv."""

import sys
from pathlib import Path

# import the library from this checkout too when a conda env (not .venv) runs the job
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
truth = {Path(p).parent.name: p for p in sm.input.truth}
run_script(sm, lambda: pipeline.summary(sm.params.scans, sm.input.morph, truth, sm.output[0]))
