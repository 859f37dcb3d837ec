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


checkpoint select_config:
    input:
        summary="results/{dataset}/tables/cv_summary.csv",
    output:
        out="results/{dataset}/selection.json",
    log:
        "logs/select_config/{dataset}.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.light_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        metric=config["selection"]["metric"],
        tie_break=config["selection"]["tie_break"],
    script:
        "../../scripts/select_config.py"
