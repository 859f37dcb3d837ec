# Stage 4: one fresh model per dataset × architecture × generator × size × fold.


rule train_cv:
    input:
        images="results/{dataset}/arrays/{size}.npy",
        splits="results/{dataset}/splits.csv",
        labels="results/{dataset}/labels.txt",
        weights=get_backbone_weights,
    output:
        metrics="results/{dataset}/cv/{arch}/{generator}/{size}/fold{fold}/metrics.json",
        history="results/{dataset}/cv/{arch}/{generator}/{size}/fold{fold}/history.csv",
    log:
        "logs/train_cv/{dataset}/{arch}/{generator}/{size}/fold{fold}.log",
    benchmark:
        "benchmarks/train_cv/{dataset}/{arch}/{generator}/{size}/fold{fold}.tsv"
    threads: train_threads
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
    params:
        arch=get_arch_spec,
        generator=get_generator_spec,
        training=get_training_spec,
        seed=get_job_seed,
        positive=get_positive_class,
    shell:
        "{PYTHON} {SCRIPTS}/train_cv.py --images {input.images} --splits {input.splits}"
        " --labels {input.labels} --fold {wildcards.fold} --arch-name {wildcards.arch}"
        " --generator-name {wildcards.generator} --arch {params.arch:q}"
        " --generator {params.generator:q} --training {params.training:q}"
        " --seed {params.seed} --positive-class {params.positive:q} --threads {threads}"
        " --metrics {output.metrics} --history {output.history} > {log} 2>&1"
