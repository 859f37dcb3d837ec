# Stages 1-3: demo data, ingest (manifest + labels), split (holdout + folds), resize.


rule make_demo:
    output:
        directory("results/{dataset}/demo_data"),
    log:
        "logs/make_demo/{dataset}.log",
    params:
        per_class=get_demo_per_class,
        seed=config.get("seed", 42),
    shell:
        "{PYTHON} {SCRIPTS}/make_demo.py --out {output} --per-class {params.per_class}"
        " --seed {params.seed} > {log} 2>&1"


rule ingest:
    input:
        get_ingest_input,
    output:
        manifest="results/{dataset}/manifest.csv",
        labels="results/{dataset}/labels.txt",
    log:
        "logs/ingest/{dataset}.log",
    params:
        root=get_dataset_root,
        options=get_ingest_options,
    shell:
        "{PYTHON} {SCRIPTS}/ingest.py --root {params.root:q} --options {params.options:q}"
        " --manifest {output.manifest} --labels {output.labels} > {log} 2>&1"


rule split:
    input:
        manifest="results/{dataset}/manifest.csv",
    output:
        "results/{dataset}/splits.csv",
    log:
        "logs/split/{dataset}.log",
    params:
        options=get_split_options,
    shell:
        "{PYTHON} {SCRIPTS}/split.py --manifest {input.manifest} --options {params.options:q}"
        " --splits {output} > {log} 2>&1"


rule resize:
    input:
        manifest="results/{dataset}/manifest.csv",
        segmented=get_segmented_input,
    output:
        "results/{dataset}/arrays/{size}.npy",
    log:
        "logs/resize/{dataset}/{size}.log",
    benchmark:
        "benchmarks/resize/{dataset}/{size}.tsv"
    params:
        root=get_resize_root,
        options=get_resize_options,
    shell:
        "{PYTHON} {SCRIPTS}/resize.py --manifest {input.manifest} --root {params.root:q}"
        " --size {wildcards.size} --options {params.options:q} --out {output} > {log} 2>&1"
