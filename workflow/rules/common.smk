# Shared by all rules: the config checked and default-filled once, the grid constants and
# the wildcard constraints. The rules' input, params and resource functions are pure
# functions of (config, wildcards, ...) in scripts/mobileclf/workflow/, unit-tested without
# Snakemake (tests/unit/test_workflow_rules.py), each named after the stage using it
#   T.<name>  targets.py         inputs (T.ingest_input: of ingest)
#   O.<name>  outputs.py         rule all's targets (O.final_outputs, O.job_outputs)
#   P.<name>  params.py          params, the rerun contract (P.ingest_options)
#   R.<name>  rule_resources.py  threads, mem_mb, runtime, gpu (R.train_cv_mem_mb)
# A rule binds one to the config with bind(...). Only what needs Snakemake's own objects
# (checkpoints, workflow.cores, logger) is written here. Free of TensorFlow, so that
# parsing the workflow takes well under a second.
import functools
import json
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
from mobileclf.reduce.grid import BLOCK_PATTERN
from mobileclf.workflow import params as P
from mobileclf.workflow import rule_resources as R
from mobileclf.workflow import outputs as O
from mobileclf.workflow import targets as T
from mobileclf.workflow.config import ConfigError, prepare_config
from mobileclf.workflow.skipped_work import skipped_work_warnings

# Short messages naming each bad key (and the closest valid one); then every default the
# schema states is filled in, so the library indexes keys directly, and batch_sizes become
# grid architectures ({arch}_b16, ...).
try:
    prepare_config(
        config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
    )
except ConfigError as error:
    raise WorkflowError(str(error)) from None


def bind(function):
    """A library function of (config, wildcards, ...) as the function of (wildcards, ...)
    that Snakemake calls for an input, a param or a resource."""
    return functools.partial(function, config)


DATASETS = T.datasets(config)
FOLDS = T.folds(config)
VARIANTS = T.variants(config)
# Sizes below training.batch_folds_below train every fold of a cell in one job
# (train_cv_folds), larger sizes one job per fold (train_cv); both write the same files.
BATCHED_SIZES = T.batched_sizes(config)
PER_FOLD_SIZES = T.per_fold_sizes(config)


wildcard_constraints:
    dataset=T.wildcard_pattern(DATASETS),
    size=T.wildcard_pattern(T.sizes(config)),
    generator=T.wildcard_pattern(T.generators(config)),
    arch=T.wildcard_pattern(T.archs(config)),
    fold=r"\d+",
    variant=r"float32|dynamic|int8|float16",
    severity=r"\d+",


# --- parameter reduction: the selected model is known once select_config (a checkpoint)
# has written selection.json, so the summary's inputs and params read it here.
def reduction_selection(wildcards):
    """choice.json (the chosen cell), read through the checkpoint: the later stages' inputs
    and params name only the chosen size's array, architecture and generator."""
    path = checkpoints.select_config.get(dataset=wildcards.dataset).output.choice
    return json.loads(Path(path).read_text())


def get_selected_array(wildcards):
    return T.selected_array(wildcards, reduction_selection(wildcards))


def get_selected_check(wildcards):
    return T.selected_check(wildcards, reduction_selection(wildcards))


def get_final_phone_views(wildcards):
    return T.final_phone_views(config, wildcards, reduction_selection(wildcards))


def get_final_architecture(wildcards):
    return P.final_architecture(config, reduction_selection(wildcards))


def get_final_generator(wildcards):
    return P.final_generator(config, reduction_selection(wildcards))


def get_verdict_options(wildcards):
    return P.verdict_options(config, reduction_selection(wildcards))


def get_reduction_blocks(wildcards):
    return T.reduction_blocks(config, wildcards, reduction_selection(wildcards))


def get_reduction_images(wildcards):
    return T.reduction_images(wildcards, reduction_selection(wildcards))


def get_reduction_arch(wildcards):
    return P.reduction_arch(config, reduction_selection(wildcards))


def get_reduction_generator(wildcards):
    return P.reduction_generator(config, reduction_selection(wildcards))


def mobile_latency_threads(wildcards):
    return R.mobile_latency_threads(config, workflow.cores)


onsuccess:
    for line in skipped_work_warnings(DATASETS):
        logger.warning(line)
