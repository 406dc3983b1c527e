# The workflow lives in workflow/ (Snakemake workflow-catalog layout). This line lets `snakemake`
# run from the repository root; it keeps the workflow's default target (rule all), which a plain
# `include:` would drop.
workflow.include("workflow/Snakefile", overwrite_default_target=True)
