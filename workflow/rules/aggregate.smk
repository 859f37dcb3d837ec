# Stages 5-6: the paper's CV tables and heatmap, then the automatic selection.


rule aggregate_cv:
    input:
        metrics=bind(T.cv_metrics),
    output:
        runs="results/{dataset}/tables/cv_runs.csv",
        summary="results/{dataset}/tables/cv_summary.csv",
        markdown=report(
            "results/{dataset}/tables/cv_summary.md",
            caption="../report/cv_summary.rst",
            category="Cross-validation",
        ),
        heatmap=report(
            "results/{dataset}/plots/cv_heatmap.png",
            caption="../report/cv_heatmap.rst",
            category="Cross-validation",
        ),
    log:
        "logs/aggregate_cv/{dataset}.log",
    benchmark:
        "benchmarks/aggregate_cv/{dataset}.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.light_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        folds=len(FOLDS),
        camera_severity=bind(P.selection_camera_severity),
    script:
        "../../scripts/aggregate_cv.py"


# selection.json is the whole record (scores, candidates, ties) and only the report reads
# it; choice.json (the chosen cell) and tables/cv_best.csv (the verdict's grid ceiling)
# are what the later stages read: their bytes change only when the choice (or the best
# cell) does, so a cell that does not win reruns no reduction, export or phone test. Every
# job after the selection lists choice.json as an input: Snakemake re-judges the
# checkpoint's direct consumers once it has run (a newer file with the recorded checksum
# is no reason to rerun), while a job further down would keep "input updated by another
# job" from the plan made before the checkpoint ran, even when that job then did not run.
checkpoint select_config:
    input:
        summary="results/{dataset}/tables/cv_summary.csv",
    output:
        # first: the file Snakemake waits for when a param reads the checkpoint
        choice="results/{dataset}/choice.json",
        out="results/{dataset}/selection.json",
        best="results/{dataset}/tables/cv_best.csv",
    log:
        "logs/select_config/{dataset}.log",
    benchmark:
        "benchmarks/select_config/{dataset}.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.table_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        metric=config["selection"]["metric"],
        tie_break=config["selection"]["tie_break"],
        # cv_best.csv also holds the best phone-path cells (the verdict's phone table)
        phone_generators=T.phone_view_generators(config),
    script:
        "../../scripts/select_config.py"
