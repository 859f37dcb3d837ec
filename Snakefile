# mobileclf: labelled image folders -> small quantized TFLite classifiers for phones.
# Stages live in workflow/rules/*.smk; their input, params and resource functions in
# scripts/mobileclf/workflow/ (bound to the config in workflow/rules/common.smk).
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")


# The demo config is the default only: a user's --configfile replaces it instead of being
# deep-merged into it (which would add the demo dataset and grid to every run).
if not workflow.config_settings.configfiles:
    # read it first: Snakemake's loader names neither the file nor the line of a YAML error
    sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
    from mobileclf.workflow.config import ConfigError, read_config_file

    try:
        read_config_file("config/config.yaml")
    except ConfigError as error:
        raise WorkflowError(str(error)) from None

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/checks.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/backbones.smk"
include: "workflow/rules/phone.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/reduction.smk"
include: "workflow/rules/mobile.smk"
include: "workflow/rules/phone_check.smk"
include: "workflow/rules/phone_views.smk"


rule all:
    default_target: True
    input:
        O.final_outputs(config),
        PC.pages(config),
        O.job_outputs(config),
