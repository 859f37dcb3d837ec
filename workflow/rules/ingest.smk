# Stages 1-3: demo data, ingest (manifest + labels), split (holdout + folds), resize.
# ingest, split and resize are checkpoints only for reruns: once one has run, Snakemake
# re-judges the jobs reading its outputs, and a rebuilt file with the checksum those jobs
# recorded (a deleted or tampered splits.csv, labels.txt or array, rebuilt by `make
# repair`) reruns nothing. As rules, every job below would rerun ("input updated by
# another job"), whatever the new bytes. See docs/reruns-and-recovery.md.


rule make_demo:
    output:
        out=directory("results/{dataset}/demo_data"),
    log:
        "logs/make_demo/{dataset}.log",
    benchmark:
        "benchmarks/make_demo/{dataset}.tsv"
    conda:
        "../../envs/ingest.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.light_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        per_class=bind(P.demo_per_class),
        seed=config["seed"],
    script:
        "../../scripts/make_demo.py"


checkpoint ingest:
    input:
        bind(T.ingest_input),
    output:
        manifest="results/{dataset}/manifest.csv",
        labels="results/{dataset}/labels.txt",
        rejects="results/{dataset}/tables/rejects.csv",
    log:
        "logs/ingest/{dataset}.log",
    benchmark:
        "benchmarks/ingest/{dataset}.tsv"
    conda:
        "../../envs/ingest.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.light_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        root=bind(T.images_root),
        options=bind(P.ingest_options),
    script:
        "../../scripts/ingest.py"


checkpoint split:
    input:
        manifest="results/{dataset}/manifest.csv",
    output:
        splits="results/{dataset}/splits.csv",
    log:
        "logs/split/{dataset}.log",
    benchmark:
        "benchmarks/split/{dataset}.tsv"
    conda:
        "../../envs/ingest.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.light_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        options=bind(P.split_options),
    script:
        "../../scripts/split.py"


checkpoint resize:
    input:
        # unnamed: only orders the job after segment (resize reads params.root)
        bind(T.segmented_input),
        manifest="results/{dataset}/manifest.csv",
    output:
        out="results/{dataset}/arrays/{size}.npy",
    log:
        "logs/resize/{dataset}/{size}.log",
    benchmark:
        "benchmarks/resize/{dataset}/{size}.tsv"
    conda:
        "../../envs/ingest.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.resize_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        root=bind(T.resize_root),
        options=bind(P.resize_options),
    script:
        "../../scripts/resize.py"
