"""Snakemake: prep.zarr -> center.json and the centre sweep TIFF."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.center(sm.input[0], sm.output.json, sm.output.sweep,
                                       **sm.params.prep, **sm.params.recon))
