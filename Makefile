# The commands of the README: `make reproduce`, `make test` (and `make figures`). All set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PRESET ?= quick

.PHONY: test reproduce demo figures setup clean-venv

setup: $(VENV)/.installed

# --system-site-packages keeps an already installed torch (e.g. a CUDA build on a GPU machine);
# only when none is importable does pip take the CPU wheel torch==2.13.0.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[test]"
	touch $@

test: $(VENV)/.installed
	$(PY) -m pytest -q

reproduce: $(VENV)/.installed
	$(PY) -m repro reproduce --preset $(PRESET)

demo: $(VENV)/.installed
	$(PY) -m repro reproduce --preset demo

# the six supplementary figures (figures/README.md); about 75 s on 2 cores
figures: $(VENV)/.installed
	$(PY) -m repro.supplementary --figures figures --results results

clean-venv:
	rm -rf $(VENV)
