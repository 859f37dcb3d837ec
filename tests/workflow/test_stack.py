"""The pinned stack installs on every Python the README promises: 3.11, 3.12 and 3.13.

CI machines have only one interpreter (3.11), so a pin without a wheel for 3.12 or 3.13
(as tflite-support 0.4.4 was) would pass every other test and still break `make install`
on Ubuntu 24.04 (3.12) or Debian 13 (3.13). Here pip's own resolver answers for each
version as binary wheels for manylinux x86-64, the platform users and CI install on. It
needs the package index: on a machine without it, this test fails rather than skips, so
an unchecked stack never looks checked.

Pure-Python packages published only as source (snakemake's connection_pool) are built to
a wheel once and offered to the resolver; the test asserts each such wheel is
``py3-none-any``, i.e. installs anywhere without a compiler.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import REPO

SUPPORTED = ("3.11", "3.12", "3.13")
# pip takes --platform tags literally (manylinux_2_28 does not imply manylinux_2_27), so
# every manylinux tag up to glibc 2.35 is listed: Ubuntu 22.04's, older than 24.04's 2.39
# and Debian 13's 2.41, so a wheel needing a newer glibc than those is caught too.
GLIBC_MINOR = 35
PLATFORMS = (
    "manylinux1_x86_64",
    "manylinux2010_x86_64",
    "manylinux2014_x86_64",
    *(f"manylinux_2_{minor}_x86_64" for minor in range(5, GLIBC_MINOR + 1)),
)
REQUIREMENTS = ("requirements.txt", "requirements-slurm.txt")
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s#]+)")


def _pins() -> dict[str, str]:
    pins = {}
    for name in REQUIREMENTS:
        for line in (REPO / name).read_text().splitlines():
            match = PIN.match(line.strip())
            if match:
                pins[_canonical(match.group(1))] = match.group(2)
    return pins


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip_report(args: list[str], report: Path) -> dict[str, dict]:
    """Run pip's resolver (``install --dry-run``) and return {name: report item}."""
    requirements = [arg for name in REQUIREMENTS for arg in ("-r", str(REPO / name))]
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
    command += ["--quiet", "--disable-pip-version-check", *args, *requirements]
    done = subprocess.run(
        [*command, "--report", str(report)], capture_output=True, text=True, timeout=600
    )
    errors = [line for line in done.stderr.splitlines() if "is ignored" not in line]
    assert done.returncode == 0, f"pip cannot resolve {' '.join(args)}:\n" + "\n".join(errors)
    items = json.loads(report.read_text())["install"]
    return {_canonical(item["metadata"]["name"]): item for item in items}


@pytest.fixture(scope="module")
def pure_python_wheels(tmp_path_factory) -> Path:
    """A folder with wheels built from the packages the index has only as source."""
    folder = tmp_path_factory.mktemp("wheels")
    native = _pip_report([], folder / "native.json")
    sources = sorted(
        f"{item['metadata']['name']}=={item['metadata']['version']}"
        for item in native.values()
        if not item["download_info"]["url"].endswith(".whl")
    )
    if sources:
        built = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", folder, *sources],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert built.returncode == 0, built.stderr
    for wheel in folder.glob("*.whl"):
        assert wheel.name.endswith("-py3-none-any.whl"), (
            f"{wheel.name} is published only as source and is not pure Python: users "
            "would need a compiler; pin a version with wheels"
        )
    assert len(list(folder.glob("*.whl"))) == len(sources)
    return folder


@pytest.mark.parametrize("version", SUPPORTED)
def test_requirements_resolve_as_binary_wheels(version, pure_python_wheels, tmp_path):
    abi = "cp" + version.replace(".", "")
    args = ["--only-binary=:all:", "--python-version", version, "--implementation", "cp"]
    args += ["--abi", abi, "--find-links", str(pure_python_wheels)]
    args += [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    resolved = _pip_report(args, tmp_path / "report.json")
    for name, version_pinned in _pins().items():
        assert name in resolved, f"{name} is pinned but pip did not select it for {version}"
        got = resolved[name]["metadata"]["version"]
        assert got == version_pinned, f"Python {version}: {name} resolved to {got}"
    assert "tflite-support" not in resolved
    assert resolved["tensorflow-cpu"]["metadata"]["version"].startswith("2.20")
    assert int(resolved["numpy"]["metadata"]["version"].split(".")[0]) >= 2
    for name, item in resolved.items():
        url = item["download_info"]["url"]
        assert url.endswith(".whl"), f"Python {version}: {name} would be built from {url}"


def test_supported_pythons_agree_across_files():
    """pyproject, the Makefile's interpreter choice and the conda envs name one range."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={SUPPORTED[0]},<3.{int(SUPPORTED[-1][2:]) + 1}"
    makefile = (REPO / "Makefile").read_text()
    listed = re.search(r"^SUPPORTED_PYTHONS := (.*)$", makefile, re.M).group(1).split()
    assert listed == [f"python{v}" for v in reversed(SUPPORTED)], "newest first"
    for env in sorted((REPO / "envs").glob("*.yaml")):
        deps = yaml.safe_load(env.read_text())["dependencies"]
        pythons = [d for d in deps if isinstance(d, str) and d.startswith("python=")]
        assert len(pythons) == 1 and pythons[0].removeprefix("python=") in SUPPORTED, env.name


def _fake_python(folder: Path, name: str, runs: bool) -> None:
    """An interpreter on PATH that runs, or fails like a pyenv shim for a missing version."""
    script = folder / name
    fails = f'echo "pyenv: {name}: command not found" >&2; exit 127'
    body = f'exec {sys.executable} "$@"' if runs else fails
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)


@pytest.mark.parametrize(
    ("present", "chosen"),
    [
        ({"python3.13": False, "python3.12": True}, "python3.12"),
        ({"python3.13": True, "python3.12": True}, "python3.13"),
        ({"python3.13": False, "python3.12": False, "python3.11": True}, "python3.11"),
    ],
)
def test_make_install_picks_newest_python_that_runs(tmp_path, present, chosen):
    """A shim that exists but fails (pyenv without that version) is skipped, and the
    choice is printed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, runs in present.items():
        _fake_python(bin_dir, name, runs)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"}
    env.pop("PYTHON", None)
    venv = tmp_path / "venv"
    done = subprocess.run(
        ["make", "-n", "-C", str(REPO), "install", f"VENV={venv}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"creating {venv} with {chosen} " in done.stdout
    assert f"{chosen} -m venv {venv}" in done.stdout


def test_make_install_without_a_supported_python_says_so(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("python3.13", "python3.12", "python3.11"):
        _fake_python(bin_dir, name, runs=False)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}/bin"}
    env.pop("PYTHON", None)
    done = subprocess.run(
        ["make", "-C", str(REPO), "install", f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode != 0
    assert "no Python 3.11 or newer runs here" in done.stderr
    assert not (tmp_path / "venv").exists()
