# tomosnake: a nano-CT beamtime from raw projections to microstructure numbers.
#   snakemake --profile profiles/local          (laptop / this machine)
#   snakemake --profile profiles/slurm          (cluster; see README "Run a beamtime on a cluster")
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/recon.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/morph.smk"
include: "workflow/rules/viz.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
