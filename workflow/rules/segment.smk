# Segmentation: a CNN or random forest trained on ground-truth slices of simulated scans (or
# multi-Otsu, no training), fanned out over z.


# The U-Net (CNN): asks for a GPU in profiles/slurm-gpu, runs on the CPU without one.
rule train_segmenter:
    input:
        recon=expand("results/{scan}/recon.zarr", scan=TRAIN_SCANS),
        truth=[truth_of(s) for s in TRAIN_SCANS],
    output:
        "results/models/segment_cnn.pt",
    params:
        method="cnn",
        slices=config["segment"]["train_slices"],
        epochs=config["segment"]["epochs"],
    log:
        "logs/segment/train_cnn.log",
    benchmark:
        "results/benchmarks/train_segmenter/cnn.tsv"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=120,
    conda:
        "../../envs/segment.yaml"
    script:
        "../scripts/train_segmenter.py"


# The random forest: same inputs and script, CPU only (profiles give it no GPU); the CNN's
# epochs are not among its params, so changing them leaves this model as it is (tested).
use rule train_segmenter as train_forest with:
    output:
        "results/models/segment_rf.pt",
    params:
        method="rf",
        epochs=None,  # params are merged with the CNN rule's: drop its epochs
    log:
        "logs/segment/train_rf.log",
    benchmark:
        "results/benchmarks/train_forest/rf.tsv"
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=60,


rule segment_chunk:
    input:
        unpack(segment_inputs),
    output:
        temp(directory("results/{scan}/labels.slabs/{slab}.zarr")),
    params:
        seg=segment_params,
    log:
        "logs/segment/{scan}.{slab}.log",
    benchmark:
        "results/benchmarks/segment_chunk/{scan}.{slab}.tsv"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=60,
    conda:
        "../../envs/segment.yaml"
    script:
        "../scripts/segment_chunk.py"


rule segment_merge:
    input:
        slabs=label_slabs,
        source=lambda wc: list(segment_inputs(wc).values()),
    output:
        directory("results/{scan}/labels.zarr"),
    params:
        slab_code=script_sha256("segment_chunk.py"),
    log:
        "logs/segment/{scan}.merge.log",
    benchmark:
        "results/benchmarks/segment_merge/{scan}.tsv"
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=30,
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/merge_slabs.py"


rule truth_check:
    input:
        prep="results/{scan}/prep.zarr",
        labels="results/{scan}/labels.zarr",
        truth=get_truth,
    output:
        "results/{scan}/truth_check.json",
    log:
        "logs/segment/{scan}.truth.log",
    benchmark:
        "results/benchmarks/truth_check/{scan}.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/truth_check.py"
