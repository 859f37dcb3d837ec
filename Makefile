# Two commands do all set-up on a fresh Linux machine with Python 3.11 or newer:
#   make demo   - install into .venv, then run the whole workflow on the generated demo data
#   make test   - install into .venv, then run the whole test suite (tests/unit and
#                 tests/workflow: real Snakemake runs of .test/config/config.yaml)
#   make test-fast - the unit lane only (tests/unit: no Snakemake run, a few minutes)
#   make install-slurm - a second venv, .venv-slurm, for `--profile profiles/slurm`: the
#                 SLURM executor plugin on top of .venv's packages (docs/slurm.md)
# The venv uses the newest of python3.13, python3.12, python3.11 that runs (a pyenv shim can
# exist on PATH and still fail); PYTHON=/path/to/python overrides the choice.
SUPPORTED_PYTHONS := python3.13 python3.12 python3.11
ifndef PYTHON
PYTHON := $(firstword $(foreach p,$(SUPPORTED_PYTHONS),$(shell $(p) -c 'import sys' >/dev/null 2>&1 && echo $(p))))
endif
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: demo run test test-fast lint install install-slurm

$(BIN)/.installed: requirements.txt
	@test -x $(BIN)/python || test -n "$(PYTHON)" || { \
	  echo "make install: no Python 3.11 or newer runs here (tried $(SUPPORTED_PYTHONS)); install one or pass PYTHON=/path/to/python3.X" >&2; exit 1; }
	@if test -x $(BIN)/python; then echo "make install: using the existing $(VENV) ($$($(BIN)/python --version))"; \
	else echo "make install: creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"; $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# the old stack's tflite-support (pins protobuf<4) and its libusb shim, in a .venv made
	@# before TensorFlow 2.20, would fail pip check: they go (docs/stack.md)
	$(BIN)/python -m pip uninstall --quiet --yes tflite-support libusb-package 2>/dev/null || true
	@# the SLURM plugin probes scontrol/sacct when Snakemake imports it (every command, up to
	@# 10 s where the controller does not answer): it lives in .venv-slurm (install-slurm)
	$(BIN)/python -m pip uninstall --quiet --yes snakemake-executor-plugin-slurm snakemake-executor-plugin-slurm-jobstep 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip check
	touch $@

# the phone check's web runtime (docs/phone-check.md): MediaPipe Tasks for web and jsQR,
# pinned by web/package-lock.json, copied into each results/<dataset>/phone_check/page/
WEB_RUNTIME := web/node_modules/.package-lock.json
$(WEB_RUNTIME): web/package.json web/package-lock.json
	@command -v npm >/dev/null || { \
	  echo "make install: npm is missing (the phone check's web runtime): apt-get install -y npm" >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund
	touch $@

# the fused dense backward + Adam op (docs/training-speed.md), built against the installed
# TensorFlow's headers; without a C++ compiler, or if it does not build, training uses
# TensorFlow's own kernels (same maths; the tests say which in CI)
KERNEL := scripts/mobileclf/train/kernels/dense_grad_adam.so
$(KERNEL): scripts/mobileclf/train/kernels/dense_grad_adam.cc scripts/mobileclf/train/kernels/build.py $(BIN)/.installed
	@$(BIN)/python scripts/mobileclf/train/kernels/build.py $< $@; \
	  test -f $@ && echo "make install: built $@" || \
	  echo "make install: $@ not built (above); training uses TensorFlow's own kernels" >&2

install: $(BIN)/.installed $(WEB_RUNTIME) $(KERNEL)

# .venv-slurm: a venv of the same Python whose site-packages adds .venv's (a .pth line), plus
# the SLURM plugin and what it needs beyond .venv. Snakemake imports every installed executor
# plugin at start-up, so only commands run from here pay the plugin's probes.
SLURM_VENV := .venv-slurm
$(SLURM_VENV)/.installed: $(BIN)/.installed requirements-slurm.txt profiles/slurm/snakemake_slurm.py
	test -x $(SLURM_VENV)/bin/python || $(BIN)/python -c 'import sys, venv; venv.create(sys.argv[1], with_pip=True)' $(SLURM_VENV)
	$(BIN)/python -c 'import sysconfig; print("import site; site.addsitedir(%r)" % sysconfig.get_paths()["purelib"])' \
	  > $$($(SLURM_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/mobileclf-base.pth
	$(SLURM_VENV)/bin/python -m pip install --quiet -r requirements-slurm.txt
	@# snakemake = Snakemake + profiles/slurm/snakemake_slurm.py (keeps the outputs of jobs
	@# that never started); the jobs themselves run `python -m snakemake` on the nodes
	printf '#!/bin/sh\n# snakemake for the SLURM profile (make install-slurm)\nexec "%s/python" "%s" "$$@"\n' \
	  "$$(cd $(SLURM_VENV)/bin && pwd)" "$(CURDIR)/profiles/slurm/snakemake_slurm.py" > $(SLURM_VENV)/bin/snakemake
	chmod +x $(SLURM_VENV)/bin/snakemake
	$(SLURM_VENV)/bin/python -m pip check
	touch $@

install-slurm: $(SLURM_VENV)/.installed

demo: $(BIN)/.installed $(WEB_RUNTIME) $(KERNEL)
	$(BIN)/snakemake --cores $(CORES)

# Your own config: make run CONFIG=my_config.yaml CORES=8. The config file is checked first
# (scripts/check_config.py): Snakemake reads --configfile before this workflow, and for a
# missing file or a YAML mistake prints a traceback or a message naming neither file nor
# line; the check prints one line naming both, and every schema problem, then stops.
run: $(BIN)/.installed $(WEB_RUNTIME) $(KERNEL)
	@test -n "$(CONFIG)" || { echo "make run: name your config file: make run CONFIG=my_config.yaml (make demo runs config/config.yaml)" >&2; exit 2; }
	@$(BIN)/python scripts/check_config.py $(CONFIG)
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG)

# --durations: the slowest tests in every run (CI prints them), to keep the suite within
# its 25-minute budget (docs/development.md)
test: $(BIN)/.installed $(WEB_RUNTIME) $(KERNEL)
	$(BIN)/python -m pytest -ra --durations=25

test-fast: $(BIN)/.installed $(KERNEL)
	$(BIN)/python -m pytest -ra tests/unit

lint: $(BIN)/.installed
	$(BIN)/ruff check scripts tests bench
	$(BIN)/ruff format --check scripts tests bench
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

# The one recovery command (docs/reruns-and-recovery.md): after a deleted, stale or tampered
# file (deleted as its message says), rerun the default target, which requests every file
# a job writes: what is missing is rebuilt, only what reads it reruns, nothing good is
# deleted; --keep-going lets every other job finish. Own data: make repair CONFIG=my.yaml
.PHONY: repair
repair: $(BIN)/.installed
	@$(if $(CONFIG),$(BIN)/python scripts/check_config.py $(CONFIG))
	$(BIN)/snakemake --cores $(CORES) --keep-going $(if $(CONFIG),--configfile $(CONFIG))
