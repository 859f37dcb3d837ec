# Stage 4: one fresh model per dataset × architecture × generator × size × fold. Sizes
# below training.batch_folds_below train all folds of a cell in one job (train_cv_folds);
# the others one job per fold (train_cv). Both write the same per-fold files.


rule train_cv:
    input:
        # unnamed: ImageNet weights fetched first, or the local weights file (reruns on edit)
        get_backbone_weights,
        images="results/{dataset}/arrays/{size}.npy",
        splits="results/{dataset}/splits.csv",
        labels="results/{dataset}/labels.txt",
        manifest="results/{dataset}/manifest.csv",
    output:
        metrics="results/{dataset}/cv/{arch}/{generator}/{size}/fold{fold}/metrics.json",
        history="results/{dataset}/cv/{arch}/{generator}/{size}/fold{fold}/history.csv",
    log:
        "logs/train_cv/{dataset}/{arch}/{generator}/{size}/fold{fold}.log",
    benchmark:
        "benchmarks/train_cv/{dataset}/{arch}/{generator}/{size}/fold{fold}.tsv"
    wildcard_constraints:
        size=size_pattern(PER_FOLD_SIZES),
    conda:
        "../../envs/train.yaml"
    threads: train_threads
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
        gpu=train_gpu,
    params:
        arch_spec=get_arch_spec,
        generator_spec=get_generator_spec,
        training=get_training_spec,
        seed=get_job_seed,
        positive_class=get_positive_class,
        attempt=get_train_attempt,
    script:
        "../../scripts/train_cv.py"


rule train_cv_folds:
    input:
        get_backbone_weights,
        images="results/{dataset}/arrays/{size}.npy",
        splits="results/{dataset}/splits.csv",
        labels="results/{dataset}/labels.txt",
        manifest="results/{dataset}/manifest.csv",
    output:
        metrics=expand(
            "results/{{dataset}}/cv/{{arch}}/{{generator}}/{{size}}/fold{fold}/metrics.json",
            fold=FOLDS,
        ),
        history=expand(
            "results/{{dataset}}/cv/{{arch}}/{{generator}}/{{size}}/fold{fold}/history.csv",
            fold=FOLDS,
        ),
    log:
        "logs/train_cv_folds/{dataset}/{arch}/{generator}/{size}.log",
    benchmark:
        "benchmarks/train_cv_folds/{dataset}/{arch}/{generator}/{size}.tsv"
    wildcard_constraints:
        size=size_pattern(BATCHED_SIZES),
    conda:
        "../../envs/train.yaml"
    threads: train_threads
    resources:
        mem_mb=train_folds_mem_mb,
        runtime=train_folds_runtime,
        gpu=train_gpu,
    params:
        arch_spec=get_arch_spec,
        generator_spec=get_generator_spec,
        training=get_training_spec,
        folds=FOLDS,
        seed=get_fold_seeds,
        positive_class=get_positive_class,
        attempt=get_fold_attempts,
    script:
        "../../scripts/train_cv_folds.py"
