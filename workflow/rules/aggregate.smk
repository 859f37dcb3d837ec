# Stages 5-6: the paper's CV tables and heatmap, then the automatic selection.


rule aggregate_cv:
    input:
        get_cv_metrics,
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
    params:
        folds=len(FOLDS),
    shell:
        "{PYTHON} {SCRIPTS}/aggregate_cv.py --metrics {input} --folds {params.folds}"
        " --dataset {wildcards.dataset} --runs {output.runs} --summary {output.summary}"
        " --markdown {output.markdown} --heatmap {output.heatmap} > {log} 2>&1"


rule select_config:
    input:
        "results/{dataset}/tables/cv_summary.csv",
    output:
        "results/{dataset}/selection.json",
    log:
        "logs/select_config/{dataset}.log",
    params:
        metric=config.get("selection", {}).get("metric", "mean_accuracy"),
    shell:
        "{PYTHON} {SCRIPTS}/select_config.py --summary {input} --metric {params.metric}"
        " --out {output} > {log} 2>&1"
