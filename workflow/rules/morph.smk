# Quantification: results/{scan}/morphology.json, then results/summary.csv for the beamtime.


rule morphology:
    input:
        "results/{scan}/labels.zarr",
    output:
        "results/{scan}/morphology.json",
    params:
        morph=stage_params("morph"),
    log:
        "logs/morph/{scan}.log",
    benchmark:
        "results/benchmarks/morphology/{scan}.tsv"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=60,
    conda:
        "../../envs/morph.yaml"
    script:
        "../scripts/morphology.py"


rule summary:
    input:
        morph=per_scan("results/{scan}/morphology.json"),
        truth=per_scan("results/{scan}/truth_check.json", simulated_scans()),
    output:
        "results/summary.csv",
    params:
        scans=list(SCANS),
    log:
        "logs/morph/summary.log",
    benchmark:
        "results/benchmarks/summary/all.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/morph.yaml"
    script:
        "../scripts/summary.py"
