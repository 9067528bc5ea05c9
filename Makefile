# The two commands of the README: `make study` (the main job) and `make test`.
# Both create the local virtual environment .venv on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.rsdml-installed
# JupyterLab's settings overrides for this environment (jupyter/overrides.json): double-clicking a
# notebooks/*.py opens it as a notebook (jupytext), not as text.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
# Jupyter refuses to start as root (containers, cluster nodes) unless told: only then.
ALLOW_ROOT = $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
STUDY ?= quick
STUDY_OUT ?= runs/$(STUDY)
WORKERS ?= 2

.PHONY: venv engines study test test-all lint lab figures clean

venv: $(STAMP) $(LAB_SETTINGS)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; install Python >= 3.10 or run make PYTHON=/path/to/python3"; exit 1; }
	@echo "make: creating $(VENV) and installing rsdml with its dependencies (about 6 GB on a fresh machine: a few minutes without output)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,lab]"
	$(BIN)/python -m ipykernel install --sys-prefix --name rsdml --display-name "Python (rsdml)" >/dev/null
	touch $(STAMP)

$(LAB_SETTINGS): jupyter/overrides.json $(STAMP)
	mkdir -p $(dir $@)
	cp jupyter/overrides.json $@

## Optional: ONNX Runtime, which computes frozen features about 3x faster than torch on a CPU
## (rsdml picks it automatically once installed; README, "Speed").
engines: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[engines]"

## The main job: run the study (default: the embedded synthetic `quick` preset) and regenerate figures/.
study: $(STAMP)
	$(BIN)/rsdml study $(STUDY) --out $(STUDY_OUT) --workers $(WORKERS) --figures figures/$(STUDY)

## The test suite (fast tests; real-data tests are marked slow and run in CI with RSDML_DATA set).
test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow or not slow"

lint: $(STAMP)
	$(BIN)/ruff check rsdml tests notebooks
	$(BIN)/ruff format --check rsdml tests notebooks

lab: $(STAMP) $(LAB_SETTINGS)
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/

figures: $(STAMP)
	$(BIN)/rsdml figures $(STUDY_OUT) --figures figures/$(STUDY) --workers $(WORKERS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
