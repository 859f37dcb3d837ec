"""Conda environments (for --sdm conda) parse and pin the same versions as requirements.txt.

Conda channels are unreachable on the CI machines, so the environments are checked
statically; the pip install from requirements.txt is what CI and the README use.
"""

import re

import pytest
import yaml
from conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s#]+)")


def _requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


@pytest.mark.parametrize("env", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_parses_and_agrees_with_requirements(env):
    spec = yaml.safe_load(env.read_text())
    assert "conda-forge" in spec["channels"]
    pip_section = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    pythons = [d for d in spec["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    # one of the versions tests/test_stack.py resolves the pins for
    assert pythons in (["python=3.11"], ["python=3.12"], ["python=3.13"]), pythons
    pins = _requirements()
    assert pip_section, f"{env.name} installs nothing"
    for line in pip_section:
        match = PIN.match(line)
        assert match, f"{env.name}: {line!r} is not pinned with =="
        name, version = match.group(1).lower(), match.group(2)
        assert pins.get(name) == version, (
            f"{env.name}: {name}=={version} but requirements.txt has {pins.get(name)}"
        )


def test_every_rule_names_an_existing_env():
    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    named = set(re.findall(r'conda:\s*\n\s*"\.\./\.\./envs/([\w-]+\.yaml)"', rules))
    assert named, "no rule declares a conda environment"
    assert named <= {p.name for p in (REPO / "envs").glob("*.yaml")}
    jobs = rules.count("\nrule ") + rules.count("\ncheckpoint ")
    assert jobs == rules.count("conda:"), "a rule has no conda: directive"
