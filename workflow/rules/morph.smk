# Quantification: results/{scan}/morphology.json, then results/summary.csv for the beamtime.


rule morphology:
    input:
        LABELS0,
    output:
        "results/{scan}/morphology.json",
    log:
        "logs/morph/{scan}.log",
    benchmark:
        "results/benchmarks/morphology/{scan}.tsv"
    conda:
        "../envs/morph.yaml"
    threads: 2
    resources:
        mem_mb=job_resource("morphology", "mem_mb"),
        runtime=job_resource("morphology", "runtime"),
    params:
        morph=settings("morph"),
        code=code("morphology", "morphology.py"),
    script:
        "../scripts/morphology.py"


rule summary:
    input:
        morph=per_scan("results/{scan}/morphology.json"),
        truth=per_scan("results/{scan}/truth_check.json", BT.simulated),
    output:
        "results/summary.csv",
    log:
        "logs/morph/summary.log",
    benchmark:
        "results/benchmarks/summary/all.tsv"
    conda:
        "../envs/morph.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        scans=list(SCANS),
        simulated=BT.simulated,
        code=code("summary", "summary.py"),
    script:
        "../scripts/summary.py"
