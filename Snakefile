# mobileclf: labelled image folders -> small quantized TFLite classifiers for phones.
# Stages live in workflow/rules/*.smk; their input, params and resource functions in
# scripts/mobileclf/workflow/ (bound to the config in workflow/rules/common.smk).
from snakemake.utils import min_version

min_version("9.0")


# The demo config is the default only: a user's --configfile replaces it instead of being
# deep-merged into it (which would add the demo dataset and grid to every run).
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/backbones.smk"
include: "workflow/rules/phone.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/reduction.smk"
include: "workflow/rules/mobile.smk"


rule all:
    default_target: True
    input:
        T.final_outputs(config),
