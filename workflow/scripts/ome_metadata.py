"""Snakemake: the OME-Zarr group documents (multiscales, labels) once every level exists."""

from pathlib import Path

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.ome_metadata(Path(sm.output[0]).parent, len(sm.input.image)))
