# Segmentation: a CNN or random forest trained on labelled slices (or multi-Otsu, no
# training), slab by slab, joined without copying into the OME-Zarr's label image.

TRAIN_CNN = training("cnn")
TRAIN_RF = training("rf")


# A group's U-Net (CNN), trained on its scans' labelled slices (segment.labels) and the truth
# of its simulated train_scans: asks for a GPU in profiles/slurm-gpu, runs on a CPU without.
rule train_segmenter:
    input:
        unpack(TRAIN_CNN[0]),
    output:
        "results/models/{group}.cnn.pt",
    log:
        "logs/segment/train_{group}.cnn.log",
    benchmark:
        "results/benchmarks/train_segmenter/{group}.cnn.tsv"
    conda:
        gpu_env("../envs/segment.yaml")
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        train=TRAIN_CNN[1],
        code=code("train_segmenter", "train_segmenter.py"),
    script:
        "../scripts/train_segmenter.py"


# The random forest: the same data, CPU only (profiles give it no GPU); the U-Net's settings
# are not among its params, so changing them leaves this model as it is (tested).
use rule train_segmenter as train_forest with:
    input:
        unpack(TRAIN_RF[0]),
    output:
        "results/models/{group}.rf.pt",
    log:
        "logs/segment/train_{group}.rf.log",
    benchmark:
        "results/benchmarks/train_forest/{group}.rf.tsv"
    conda:
        "../envs/segment.yaml"
    params:
        train=TRAIN_RF[1],
        code=code("train_segmenter", "train_segmenter.py"),


rule segment_slab:
    input:
        unpack(segment_inputs),
    output:
        temp(directory(f"{TMP}/{{scan}}/labels.parts/{{i}}.zarr")),
    log:
        "logs/segment/{scan}.{i}.log",
    benchmark:
        "results/benchmarks/segment_slab/{scan}.{i}.tsv"
    conda:
        gpu_env("../envs/segment.yaml")
    threads: 2
    resources:
        mem_mb=job_resource("segment_slab", "mem_mb"),
        runtime=job_resource("segment_slab", "runtime"),
    params:
        layout=settings("layout"),
        seg=segment_params,
        code=code("segment_slab", "segment_slab.py"),
    script:
        "../scripts/segment_slab.py"


rule segment_merge:
    input:
        parts=parts(f"{TMP}/{{scan}}/labels.parts/{{i}}.zarr", n_slabs),
        source=lambda wc: list(segment_inputs(wc).values()),
    output:
        labels=directory(LABELS0),
        qc="results/{scan}/segment_qc.json",
    log:
        "logs/segment/{scan}.merge.log",
    benchmark:
        "results/benchmarks/segment_merge/{scan}.tsv"
    conda:
        "../envs/segment.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        suggest=lambda wc: SETTINGS[wc.scan]["segment"]["suggest"],
        code=code("segment_merge", "segment_slab.py", "segment_merge.py"),
    script:
        "../scripts/segment_merge.py"


rule truth_check:
    input:
        center="results/{scan}/center.json",
        labels=LABELS0,
        truth=get_truth,
    output:
        "results/{scan}/truth_check.json",
    log:
        "logs/segment/{scan}.truth.log",
    benchmark:
        "results/benchmarks/truth_check/{scan}.tsv"
    conda:
        "../envs/io.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code("truth_check", "truth_check.py"),
    script:
        "../scripts/truth_check.py"
