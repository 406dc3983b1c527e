"""Snakemake: one pyramid level of the OME-Zarr image or labels from the level below."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.pyramid_level(sm.input[0], sm.output[0], sm.params.labels))
