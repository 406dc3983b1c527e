"""Snakemake: one slab of the reconstruction -> labels (a part store)."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.segment_slab(sm.input.recon, sm.output[0], int(sm.wildcards.i),
                                             model=sm.input.get("model"), **sm.params.layout,
                                             **sm.params.seg))
