# Quantification: results/{scan}/morphology.json, then results/summary.csv for the beamtime.


rule morphology:
    input:
        LABELS0,
    output:
        "results/{scan}/morphology.json",
    params:
        morph=settings("morph"),
        code=code("morphology", "morphology.py"),
    log:
        "logs/morph/{scan}.log",
    benchmark:
        "results/benchmarks/morphology/{scan}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        "../envs/morph.yaml"
    script:
        "../scripts/morphology.py"


rule summary:
    input:
        morph=per_scan("results/{scan}/morphology.json"),
        truth=per_scan("results/{scan}/truth_check.json", BT.simulated),
    output:
        "results/summary.csv",
    params:
        scans=list(SCANS),
        simulated=BT.simulated,
        code=code("summary", "summary.py"),
    log:
        "logs/morph/summary.log",
    benchmark:
        "results/benchmarks/summary/all.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/morph.yaml"
    script:
        "../scripts/summary.py"
