# Stage 4: one fresh model per dataset × architecture × generator × size × fold.


rule train_cv:
    input:
        images="results/{dataset}/arrays/{size}.npy",
        splits="results/{dataset}/splits.csv",
        labels="results/{dataset}/labels.txt",
    output:
        metrics="results/{dataset}/cv/{arch}/{generator}/{size}/fold{fold}/metrics.json",
        history="results/{dataset}/cv/{arch}/{generator}/{size}/fold{fold}/history.csv",
    log:
        "logs/train_cv/{dataset}/{arch}/{generator}/{size}/fold{fold}.log",
    benchmark:
        "benchmarks/train_cv/{dataset}/{arch}/{generator}/{size}/fold{fold}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: train_threads
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
    params:
        arch_spec=get_arch_spec,
        generator_spec=get_generator_spec,
        training=get_training_spec,
        seed=get_job_seed,
        positive_class=get_positive_class,
    script:
        "../../scripts/train_cv.py"
