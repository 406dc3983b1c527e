"""Snakemake: reconstructed slabs -> level 0 of scan.ome.zarr (chunk files linked, not copied)."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.recon_merge(sm.input.parts, sm.output[0], sm.input.center))
