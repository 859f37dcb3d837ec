# Stage 4: one fresh model per dataset × architecture × generator × size × fold. Sizes
# below training.batch_folds_below train all folds of a cell in one job (train_cv_folds);
# the others one job per fold (train_cv). Both write the same per-fold files.


rule train_cv:
    input:
        # unnamed: its inputs checked before this job starts (workflow/rules/checks.smk)
        "results/{dataset}/checks/{size}.json",
        # unnamed: ImageNet weights fetched first, or the local weights file (reruns on edit)
        bind(T.backbone_weights),
        images="results/{dataset}/arrays/{size}.npy",
        splits="results/{dataset}/splits.csv",
        labels="results/{dataset}/labels.txt",
        manifest="results/{dataset}/manifest.csv",
        phone_views=bind(T.phone_views),
        phone="results/{dataset}/phone_inputs/{size}.npz",
    output:
        metrics="results/{dataset}/cv/{arch}/{generator}/{size}/fold{fold}/metrics.json",
        history="results/{dataset}/cv/{arch}/{generator}/{size}/fold{fold}/history.csv",
    log:
        "logs/train_cv/{dataset}/{arch}/{generator}/{size}/fold{fold}.log",
    benchmark:
        "benchmarks/train_cv/{dataset}/{arch}/{generator}/{size}/fold{fold}.tsv"
    wildcard_constraints:
        size=T.wildcard_pattern(PER_FOLD_SIZES),
    conda:
        "../../envs/train.yaml"
    threads: bind(R.train_threads)
    resources:
        **R.train_partition(config),
        mem_mb=bind(R.train_cv_mem_mb),
        runtime=bind(R.train_cv_runtime),
        gpu=bind(R.train_gpu),
    params:
        arch_spec=bind(P.arch_spec),
        generator_spec=bind(P.generator_spec),
        training=bind(P.training_spec),
        seed=bind(P.job_seed),
        positive_class=bind(P.positive_class),
        attempt=bind(P.train_attempt),
    script:
        "../../scripts/train_cv.py"


rule train_cv_folds:
    input:
        # unnamed: its inputs checked before this job starts (workflow/rules/checks.smk)
        "results/{dataset}/checks/{size}.json",
        bind(T.backbone_weights),
        images="results/{dataset}/arrays/{size}.npy",
        splits="results/{dataset}/splits.csv",
        labels="results/{dataset}/labels.txt",
        manifest="results/{dataset}/manifest.csv",
        phone_views=bind(T.phone_views),
        phone="results/{dataset}/phone_inputs/{size}.npz",
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
        size=T.wildcard_pattern(BATCHED_SIZES),
    conda:
        "../../envs/train.yaml"
    threads: bind(R.train_threads)
    resources:
        **R.train_partition(config),
        mem_mb=bind(R.train_cv_folds_mem_mb),
        runtime=bind(R.train_cv_folds_runtime),
        gpu=bind(R.train_gpu),
    params:
        arch_spec=bind(P.arch_spec),
        generator_spec=bind(P.generator_spec),
        training=bind(P.training_spec),
        folds=FOLDS,
        seed=bind(P.fold_seeds),
        positive_class=bind(P.positive_class),
        attempt=bind(P.fold_attempts),
    script:
        "../../scripts/train_cv_folds.py"
