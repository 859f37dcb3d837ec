"""The SLURM wrapper's group fix (profiles/slurm/snakemake_slurm.py, "Groups"): every
rebuild of the job groups starts from new group objects, so a group holds exactly the jobs
it was built from, never the stale instances an earlier build merged into a cached one.

Real Snakemake classes (GroupJob, GroupJobFactory); the jobs are stand-ins with the two
attributes a GroupJob reads from them (its DAG, to sort and to read the attempt).
"""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest
from conftest import REPO
from snakemake import api as _api  # noqa: F401  (imports snakemake.jobs without a cycle)
from snakemake import jobs


def _wrapper():
    spec = importlib.util.spec_from_file_location(
        "snakemake_slurm", REPO / "profiles" / "slurm" / "snakemake_slurm.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Job:
    """A job as a GroupJob sees it: hashable by identity, orderable, with a DAG."""

    def __init__(self, name: str, dag):
        self.name, self.dag = name, dag

    def __lt__(self, other):
        return self.name < other.name

    def __repr__(self):
        return self.name


def _dag():
    dag = SimpleNamespace(workflow=SimpleNamespace(execution_settings=SimpleNamespace(attempt=1)))
    dag.toposorted = lambda members, inherit_pipe_dependencies=True: [sorted(members)]
    return dag


def _build(factory, parts):
    """One group build as Snakemake's DAG.update_groups makes it: a group per part, merged
    into the first, then sorted (finalize)."""
    groups = [factory.new("mobile", part, None) for part in parts]
    primary = groups[0]
    for other in groups[1:]:
        primary.merge(other)
    primary.finalize()
    return primary


@pytest.fixture
def fresh_groups(monkeypatch):
    monkeypatch.setattr(jobs.GroupJobFactory, "new", jobs.GroupJobFactory.new)  # restored
    _wrapper()._fresh_groups()


def test_a_rebuilt_group_holds_the_current_jobs_only(fresh_groups):
    dag = _dag()
    reference, latency_old, latency_new = (_Job(n, dag) for n in ("ref", "lat@1", "lat@2"))
    factory = jobs.GroupJobFactory()
    first = _build(factory, [{reference}, {latency_old}])
    assert list(first) == [latency_old, reference]
    # a checkpoint replaced the latency job: the next build starts from the same first part
    second = _build(factory, [{reference}, {latency_new}])
    # Snakemake 9.27 alone: the cached first group, grown to {ref, lat@1, lat@2} and
    # iterated in its old order [lat@1, ref], so lat@2 is in no group (KeyError)
    assert list(second) == [latency_new, reference]
    assert set(second.jobs) == {reference, latency_new} and second is not first
    assert set(first.jobs) == {reference, latency_old}  # the earlier build is untouched


def test_groups_still_compare_by_their_jobs(fresh_groups):
    # the DAG finds a running group again by equality, not identity (dag._running)
    dag = _dag()
    a, b = _Job("a", dag), _Job("b", dag)
    factory = jobs.GroupJobFactory()
    one, two = factory.new("prep", {a, b}, None), factory.new("prep", {a, b}, None)
    assert one is not two and one == two and hash(one) == hash(two)
    assert one in {two}


def test_status_checks_wait_at_most_seconds_between_status_checks(monkeypatch):
    """The plugin's growing wait (up to 180 s) is capped at seconds-between-status-checks;
    shorter waits and the first (unset) one are left as they are."""
    import asyncio

    from snakemake_interface_executor_plugins.executors import remote

    original = remote.RemoteExecutor.sleep
    try:
        _wrapper()._capped_checks()
        waited = []

        async def record(seconds):
            waited.append(seconds)

        monkeypatch.setattr(asyncio, "sleep", record)
        settings = SimpleNamespace(seconds_between_status_checks=10)
        for planned in (180, 41, 3, None):
            executor = SimpleNamespace(
                workflow=SimpleNamespace(remote_execution_settings=settings),
                next_seconds_between_status_checks=planned,
            )
            asyncio.run(remote.RemoteExecutor.sleep(executor))
        assert waited == [10, 10, 3, 10]
    finally:
        remote.RemoteExecutor.sleep = original
