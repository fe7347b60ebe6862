# The user's commands (`make help` lists them; the README's: setup, test, demo, reproduce). Every target sets up
# .venv itself. The experiments' own recipes are in experiments/<topic>/Makefile (`make -C experiments/<topic> help`).
include experiments/common.mk
PYTHON ?= python3
PRESET ?= quick

.PHONY: help setup test demo demo-reference reproduce figures clean-venv photos corpus-data gpu-job gpu-ship
.DEFAULT_GOAL := help

help: ## this list (each experiment's recipes: make -C experiments/<topic> help)
	@echo "make <target>, the targets:"
	@$(call help_lines,$(firstword $(MAKEFILE_LIST)))
	@echo "each experiment's recipes: make -C experiments/<topic> help, <topic> one of:" \
		$(notdir $(patsubst %/Makefile,%,$(wildcard experiments/*/Makefile)))

setup: $(VENV)/.installed ## .venv with the project (torch==2.13.0, the CPU wheel, only if no torch is installed)

# --system-site-packages keeps an already installed torch (e.g. a CUDA build on a GPU machine);
# only when none is importable does pip take the CPU wheel torch==2.13.0.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[test]"
	touch $@

test: $(VENV)/.installed ## the test suite, notebooks and the demo included
	$(PY) -m pytest -q

demo: $(VENV)/.installed ## the shipped networks on 24 test pairs, in minutes: results/demo/, figures/demo/
	$(PY) -m repro reproduce --preset demo

# after a change that moves the demo's numbers (new networks shipped): run the demo and keep its records as
# the reference that the README quotes and tests/test_notebooks.py checks (results/demo_reference/README.md)
demo-reference: demo ## the demo, its records kept as the reference (results/demo_reference/)
	cp results/demo/records/04_table2.json results/demo/records/05_qualitative.json results/demo/table2.md \
		results/demo/table2_by_blur.md results/demo_reference/

reproduce: $(VENV)/.installed ## Table 2 and every committed table and figure again (PRESET=quick)
	$(PY) -m repro reproduce --preset $(PRESET)

# about 75 s on 2 cores
figures: $(VENV)/.installed ## the six supplementary figures (figures/README.md)
	$(PY) -m repro.study.supplementary --figures figures --results results

clean-venv: ## remove .venv
	rm -rf $(VENV)

# ---- issue 28: the wallpaper photo corpus (docs/photo_corpus.md) ------------------------------------
# 4 Debian wallpaper packages (apt-get download; about 140 MB, never committed)
photos: $(VENV)/.installed ## fetch the wallpaper corpus into PHOTOS (data/photos)
	$(PY) -m repro photos fetch $(PHOTOS)

# the still split (issue 41): the same photos' validation and test sets filmed with little motion, windows of
# N = 1, 3 or 5 frames (weights 1:2:2, a fifth N = 1: blurry = sharp) under a slow sway (peak flow 0.1-0.8 px/frame), so that
# the inputs' PSNR spreads from about 30 dB to above 45: where a deblurring network must do no harm
STILL_RECIPE := --seed 41 --n-min 1 --n-max 5 --n-weights 1 2 2 --virtual-peak-flow 0.1 0.8 $(ARM_RECIPE)
corpus-data: photos ## WILD pairs of both photo sets and their still split (data/{corpus,bundled,still_*})
	$(BUILD) data/corpus --split val --pairs 48 --photos $(PHOTOS) $(ARM_RECIPE)
	$(BUILD) data/corpus --split test --pairs 60 --photos $(PHOTOS) $(ARM_RECIPE)
	$(BUILD) data/corpus --split train --pairs 600 --photos $(PHOTOS) $(ARM_RECIPE)
	$(BUILD) data/bundled --split val --pairs 48 $(ARM_RECIPE)
	$(BUILD) data/bundled --split train --pairs 600 $(ARM_RECIPE)
	$(BUILD) data/bundled --split test --pairs 120 $(ARM_RECIPE)
	$(BUILD) data/still_bundled --split val --pairs 48 $(STILL_RECIPE)
	$(BUILD) data/still_bundled --split test --pairs 60 $(STILL_RECIPE)
	$(BUILD) data/still_corpus --split val --pairs 48 --photos $(PHOTOS) $(STILL_RECIPE)
	$(BUILD) data/still_corpus --split test --pairs 60 --photos $(PHOTOS) $(STILL_RECIPE)

# ---- issue 43: the GPU job (docs/gpu.md) ----------------------------------------------------------
# on a machine with a GPU: prepare the carry from the corpus, then build the pairs and train DeblurNet^WILD and
# DeblurNet^SI side by side for GPU_MINUTES of wall time (DEVICE=cpu rehearses it); the bundle goes to GPU_OUT.
# With a lent GPU the two steps run apart: `python -m repro gpu-job prepare` here, `gpu-job run` there (docs/gpu.md)
GPU_MINUTES ?= 9
DEVICE ?= cuda
GPU_OUT ?= runs/gpu_job
gpu-job: $(VENV)/.installed ## train both networks on a GPU for GPU_MINUTES (DEVICE=cpu rehearses it)
	$(PY) -m repro gpu-job run --prepare-from $(PHOTOS) --carry .gpujob --out $(GPU_OUT) --device $(DEVICE) \
		--minutes $(GPU_MINUTES)
# the returned bundle (DIR): measured with the shipped networks on the validation pairs of data/bundled and
# data/corpus; shipped only if both networks beat theirs (repro.train.gpu_ship), then the results are remade
gpu-ship: $(VENV)/.installed ## ship a GPU job's bundle DIR if both networks win, then remake the results
	@test -n "$(DIR)" || { echo "error: make gpu-ship DIR=<the folder a GPU job wrote>" >&2; exit 2; }
	$(PY) -m repro gpu-ship $(DIR)
	$(MAKE) reproduce
	$(MAKE) demo-reference
