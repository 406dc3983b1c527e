"""Snakemake: one slab of rows of prep.zarr -> reconstructed slices (a part store)."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.recon_slab(sm.input.prep, sm.input.center, sm.output[0],
                                           int(sm.wildcards.i), rings=sm.params.rings,
                                           **sm.params.layout, **sm.params.recon))
