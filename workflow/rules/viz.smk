# OME-Zarr pyramid levels and metadata, figures and meshes per scan; one HTML report.


rule image_level:
    input:
        lambda wc: f"{OME}/{int(wc.level) - 1}",
    output:
        directory(f"{OME}/{{level}}"),
    log:
        "logs/viz/{scan}.level{level}.log",
    benchmark:
        "results/benchmarks/image_level/{scan}.{level}.tsv"
    conda:
        "../envs/viz.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        labels=False,
        code=code("pyramid_level", "pyramid_level.py"),
    script:
        "../scripts/pyramid_level.py"


use rule image_level as label_level with:
    input:
        lambda wc: f"{OME}/labels/phases/{int(wc.level) - 1}",
    output:
        directory(f"{OME}/labels/phases/{{level}}"),
    log:
        "logs/viz/{scan}.labels{level}.log",
    benchmark:
        "results/benchmarks/label_level/{scan}.{level}.tsv"
    params:
        labels=True,
        code=code("pyramid_level", "pyramid_level.py"),


rule ome_metadata:
    input:
        image=lambda wc: [image_level(wc.scan, k) for k in range(levels(wc.scan))],
        labels=lambda wc: [label_level(wc.scan, k) for k in range(levels(wc.scan))],
    output:
        f"{OME}/zarr.json",
        f"{OME}/labels/zarr.json",
        f"{OME}/labels/phases/zarr.json",
    log:
        "logs/viz/{scan}.ome.log",
    benchmark:
        "results/benchmarks/ome_metadata/{scan}.tsv"
    conda:
        "../envs/viz.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=code("ome_metadata", "ome_metadata.py"),
    script:
        "../scripts/ome_metadata.py"


rule figures:
    input:
        recon=lambda wc: image_level(wc.scan, view_level(wc.scan, 1024)),
        labels=lambda wc: label_level(wc.scan, view_level(wc.scan, 1024)),
        center="results/{scan}/center.json",
        sweep="results/{scan}/center_sweep.tif",
        morphology="results/{scan}/morphology.json",
        segment_qc="results/{scan}/segment_qc.json",
    output:
        directory("results/{scan}/figures"),
    log:
        "logs/viz/{scan}.figures.log",
    benchmark:
        "results/benchmarks/figures/{scan}.tsv"
    conda:
        "../envs/viz.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        code=code("figures", "figures.py"),
    script:
        "../scripts/figures.py"


rule meshes:
    input:
        lambda wc: label_level(wc.scan, view_level(wc.scan, 512)),
    output:
        directory("results/{scan}/meshes"),
    log:
        "logs/viz/{scan}.meshes.log",
    benchmark:
        "results/benchmarks/meshes/{scan}.tsv"
    conda:
        "../envs/viz.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        viz=config["viz"],
        code=code("meshes", "meshes.py"),
    script:
        "../scripts/meshes.py"


rule report:
    input:
        summary="results/summary.csv",
        morphology=per_scan("results/{scan}/morphology.json"),
        center=per_scan("results/{scan}/center.json"),
        segment_qc=per_scan("results/{scan}/segment_qc.json"),
        truth=per_scan("results/{scan}/truth_check.json", BT.simulated),
        figures=per_scan("results/{scan}/figures"),
        meshes=per_scan("results/{scan}/meshes"),
        ome=per_scan(f"{OME}/zarr.json"),
        config=workflow.configfiles,
        sheet=config["scans"],
    output:
        "results/report.html",
    log:
        "logs/viz/report.log",
    benchmark:
        "results/benchmarks/report/all.tsv"
    conda:
        "../envs/viz.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        scans=list(SCANS),
        sheet_rows=SCANS,
        settings=SETTINGS,
        simulated=BT.simulated,
        benchmarks="results/benchmarks",
        options=config["report"],
        code=code("report", "report.py"),
    script:
        "../scripts/report.py"
