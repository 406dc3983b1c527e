"""Snakemake: one decimated surface mesh per phase."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.meshes(sm.input[0], sm.output[0]))
