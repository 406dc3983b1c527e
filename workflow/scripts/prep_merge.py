"""Snakemake: ingest blocks -> prep.zarr (chunk files linked, not copied)."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.prep_merge(sm.input.parts, sm.output[0], [sm.input.raw]))
