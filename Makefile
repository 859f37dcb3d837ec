# Two commands do all set-up on a fresh Linux machine with Python 3.11:
#   make demo   - install into .venv, then run the whole workflow on the generated demo data
#   make test   - install into .venv, then run the whole test suite (tests/unit and
#                 tests/workflow: real Snakemake runs of .test/config/config.yaml)
#   make test-fast - the unit lane only (tests/unit: no Snakemake run, a few minutes)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: demo test test-fast lint install

# The SLURM executor goes in with --no-deps after everything else: it declares
# numpy>=2.4.5, TensorFlow 2.19 needs numpy<2.2 (reasons in requirements-slurm.txt).
$(BIN)/.installed: requirements.txt requirements-slurm.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-slurm.txt
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES)

test: $(BIN)/.installed
	$(BIN)/python -m pytest -ra

test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -ra tests/unit

lint: $(BIN)/.installed
	$(BIN)/ruff check scripts tests bench
	$(BIN)/ruff format --check scripts tests bench
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint
