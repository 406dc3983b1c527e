"""Snakemake: a group's labelled slices (and simulated truth) -> CNN or random-forest model."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.train_segmenter(sm.output[0], **sm.params.train))
