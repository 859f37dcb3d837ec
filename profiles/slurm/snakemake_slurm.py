"""`snakemake` of .venv-slurm (`make install-slurm` writes the wrapper that runs this file):
Snakemake itself, with two changes for cluster runs: a job that failed before it started
keeps the outputs of its previous run, and its error does not show the previous run's log;
and job groups are rebuilt from scratch whenever the DAG changes (`_fresh_groups`).

Why. On a cluster the submit host never prepares a job (the job's own Snakemake removes the
old outputs on the compute node when it starts), but when a job fails, the submit host
"cleans up" its outputs and records the failed attempt as the outputs' metadata. For a job
that never started (sbatch refused it: a bad partition, account or QOS; or it was
cancelled while still pending) that deletes good results of an earlier run (issue: a
failed submission removed report.html/report.md) and prints that earlier run's log as if
it were this job's.

How "never started" is told apart: every output still exists and none was written since
this Snakemake started (a job that started removes its outputs first, and a job that wrote
some has newer files). Such a job's outputs and metadata are left as they were; its
outputs stay marked incomplete when it had been submitted, so the next run (with
rerun-incomplete, profiles/default) runs it again. Log files older than this run are not
printed; the message says so.

Groups. Snakemake 9.27 rebuilds the job groups (profiles/slurm/config.yaml `groups`) after
every checkpoint, but its group factory hands back the group object of an earlier build
when a job's group starts from the same jobs, and merging (a group's connected parts,
`group-components`) grows that cached object in place without re-sorting it. Across
rebuilds a group then collects the replaced (stale) instances of jobs that a checkpoint
re-evaluated (seen: the tiny config's `mobile` group, 14 jobs, held 21 after two
checkpoints) and iterates its old sort order, which can leave a new instance out of every
group: the run then stops with `KeyError: mobile_latency` (or another grouped rule) in
`update_ready`, at random, as set order decides. `_fresh_groups` makes the factory build a
new group each time, so each rebuild sees only the DAG's current jobs. Related upstream:
snakemake/snakemake#4202.

Status checks. The SLURM plugin (2.x) waits `slurm-init-seconds-before-status-checks`
after a submission, then adds 10 s to the wait after every check that saw no job finish,
up to 180 s, ignoring `seconds-between-status-checks` after the first check: a job of a
few seconds is seen finished 10-20 s late, and a run that failed waits out the last,
longest sleep before it exits (31 s, measured with the test settings). `_capped_checks`
keeps the plugin's growing wait but never beyond `seconds-between-status-checks` (the
profile's 10 s: one squeue call for all jobs of the run). Everything else is Snakemake 9's
behaviour unchanged.
"""

from __future__ import annotations

import os
import sys
import time

RUN_STARTED = time.time()


def _older_than_run(path) -> bool:
    try:
        return os.stat(str(path)).st_mtime < RUN_STARTED
    except FileNotFoundError:
        return False


def never_started(job) -> bool:
    """Every output of the job exists and predates this run: nothing of it ran."""
    outputs = list(job.output)
    return bool(outputs) and all(_older_than_run(f) for f in outputs)


def _patch() -> None:
    from snakemake import jobs

    postprocess = jobs.Job.postprocess
    log_error_info = jobs.Job.get_log_error_info

    async def keep_outputs_of_unstarted(self, *args, error: bool = False, **kwargs):
        if error and never_started(self):
            return None  # outputs, metadata and incomplete markers stay as they are
        return await postprocess(self, *args, error=error, **kwargs)

    def without_stale_logs(self, msg=None, *args, **kwargs):
        info = log_error_info(self, msg, *args, **kwargs)
        stale = [str(f) for f in self.log if _older_than_run(f)]
        if stale:
            info["log"] = [f for f in info["log"] if not str(f).startswith(tuple(stale))]
            note = (
                f"The job did not start: its outputs from an earlier run are kept; "
                f"not shown, as they are from an earlier run: {', '.join(stale)}."
            )
            info["rule_msg"] = f"{info['rule_msg'] or ''}\n{note}".strip()
        return info

    jobs.Job.postprocess = keep_outputs_of_unstarted
    jobs.Job.get_log_error_info = without_stale_logs
    _fresh_groups()
    _capped_checks()


def _fresh_groups() -> None:
    """Every group build starts from new group objects (module docstring, "Groups"): the
    DAG compares groups by their jobs (equality, hash), never by identity, so nothing
    needs the cached object back."""
    from snakemake import jobs

    def new(self, id, members, resources):
        return jobs.GroupJob(id, frozenset(members), resources)

    jobs.GroupJobFactory.new = new


def _capped_checks() -> None:
    """The wait between status checks never exceeds ``seconds-between-status-checks``
    (module docstring, "Status checks")."""
    import asyncio

    from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor

    async def sleep(self):
        cap = self.workflow.remote_execution_settings.seconds_between_status_checks
        planned = self.next_seconds_between_status_checks
        await asyncio.sleep(cap if planned is None else min(planned, cap))

    RemoteExecutor.sleep = sleep


def main() -> None:
    _patch()
    from snakemake.cli import main as snakemake_main

    sys.argv[0] = "snakemake"
    snakemake_main()


if __name__ == "__main__":
    main()
