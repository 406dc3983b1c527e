"""Snakemake: one surface mesh per phase within a size budget, and the report's preview."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.meshes(sm.input[0], sm.output[0], **sm.params.viz))
