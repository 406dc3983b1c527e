"""Snakemake: mean dark and flat field(s) of a raw scan -> flats.zarr."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.flats(sm.input[0], sm.output[0], sm.params.fmt, **sm.params.prep))
