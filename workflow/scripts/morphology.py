"""Snakemake: the label image's level 0 -> morphology.json."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.morphology(sm.input[0], sm.output[0], **sm.params.morph))
