"""Snakemake: one block of angles of a raw scan -> normalised line integrals (a part store)."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.ingest(sm.input.raw, sm.input.flats, sm.output[0],
                                       int(sm.wildcards.i), sm.params.fmt,
                                       voxel_size_um=sm.params.voxel_size_um, **sm.params.prep))
