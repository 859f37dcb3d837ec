# The phone check (docs/phone-check.md): a static page that runs the deployed bundle in a
# phone's browser, and the runs it measured, collected for the report.
from mobileclf.phone_check import rules as PC

WEB = Path(workflow.basedir) / "web"


rule phone_check:
    input:
        # unnamed: every job after the selection reads the checkpoint (docs/reruns-and-recovery.md)
        "results/{dataset}/choice.json",
        holdout="results/{dataset}/mobile/holdout.csv",
        labels="results/{dataset}/deploy/labels.txt",
        # each variant's metadata as read back from its file: add_metadata's outputs, not
        # the model card's deploy/metadata.json (that checkpoint's readers in a SLURM group
        # are never scheduled; profiles/slurm/config.yaml)
        read_back=bind(T.metadata_read_backs),
        spec="results/{dataset}/final/spec.json",
        models=bind(PC.page_models),
        sources=[WEB / "src/index.html", WEB / "src/app.js"],
        lockfile=WEB / "package-lock.json",
    output:
        page=directory("results/{dataset}/phone_check/page"),
    log:
        "logs/phone_check/{dataset}.log",
    benchmark:
        "benchmarks/phone_check/{dataset}.tsv"
    conda:
        "../../envs/phone_check.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.light_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        root=bind(T.images_root),
        options=bind(PC.page_options),
    script:
        "../../scripts/phone_check.py"


# The runs the phone posted, listed at parse time (PC.measured_runs): a new run changes the
# input list, so this table reruns, and after it the verdict (mobile_tables) and the report.
rule phone_measured:
    input:
        "results/{dataset}/choice.json",
        holdout="results/{dataset}/mobile/holdout.csv",
        labels="results/{dataset}/deploy/labels.txt",
        runs=PC.measured_runs,
    output:
        table="results/{dataset}/tables/phone_measured.csv",
    log:
        "logs/phone_measured/{dataset}.log",
    benchmark:
        "benchmarks/phone_measured/{dataset}.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.light_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        variants=bind(PC.page_variants),
    script:
        "../../scripts/phone_measured.py"
