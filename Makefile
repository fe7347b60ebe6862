# The commands of the README: `make reproduce`, `make test` (and `make figures`). All set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PRESET ?= quick

.PHONY: test reproduce demo demo-reference figures setup clean-venv photos corpus-data photo-diversity deadleaves-data \
	photo-diversity-deadleaves short-data width-choice width-choice-report long-run long-run-short long-run-save long-run-eval long-run-ship \
	gpu-job gpu-ship

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

# after a change that moves the demo's numbers (new networks shipped): run the demo and keep its records as
# the reference that the README quotes and tests/test_notebooks.py checks (results/demo_reference/README.md)
demo-reference: demo
	cp results/demo/records/04_table2.json results/demo/records/05_qualitative.json results/demo/table2.md \
		results/demo/table2_by_blur.md results/demo_reference/

# the six supplementary figures (figures/README.md); about 75 s on 2 cores
figures: $(VENV)/.installed
	$(PY) -m repro.study.supplementary --figures figures --results results

clean-venv:
	rm -rf $(VENV)

# ---- issue 28: the wallpaper photo corpus and the equal-budget choice of training photos -------
# `make photos` fetches 4 Debian wallpaper packages (apt-get download; about 140 MB, never committed)
PHOTOS ?= data/photos
photos: $(VENV)/.installed
	$(PY) -m repro photos fetch $(PHOTOS)

# WILD pairs of the corpus and of the bundled photos by one recipe, so that the arms differ in their
# photos only: every scale of each photo, the camera's own flow (docs/photo_corpus.md); each build
# resumes where it stopped
BUILD := $(PY) -m repro build-wild virtual
ARM_RECIPE := --magnification multi --flow-backend true --no-progress
# the still split (issue 41): the same photos' validation and test sets filmed with little motion, windows of
# N = 1, 3 or 5 frames (weights 1:2:2, a fifth N = 1: blurry = sharp) under a slow sway (peak flow 0.1-0.8 px/frame), so that
# the inputs' PSNR spreads from about 30 dB to above 45: where a deblurring network must do no harm
STILL_RECIPE := --seed 41 --n-min 1 --n-max 5 --n-weights 1 2 2 --virtual-peak-flow 0.1 0.8 $(ARM_RECIPE)
corpus-data: photos
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

# one arm: train (resuming runs/diversity/ARM when it has a last.pt), then the report of every arm
ARM_TRAIN = $(PY) -m repro train --preset data-arm --val-root data/bundled --val-root data/corpus \
	--results results/photo_diversity --figures results/photo_diversity
resume_if = $(if $(wildcard $(1)/last.pt),--resume)
DIVERSITY_REPORT = $(PY) -m repro.evaluate.diversity --runs runs/diversity --data data --out results/photo_diversity.md
photo-diversity: corpus-data
	$(ARM_TRAIN) --data-root data/bundled --extra-root data/corpus --out runs/diversity/both --run both \
		$(call resume_if,runs/diversity/both)
	$(ARM_TRAIN) --data-root data/corpus --out runs/diversity/corpus --run corpus $(call resume_if,runs/diversity/corpus)
	$(ARM_TRAIN) --data-root data/bundled --out runs/diversity/bundled --run bundled $(call resume_if,runs/diversity/bundled)
	$(DIVERSITY_REPORT)

# arm (d): the arm that won on validation (results/photo_diversity.md's decision: DL_ARM, its roots
# DL_ROOTS) plus WILD pairs filmed over 96 procedural dead-leaves photos, at the same budget
DL_ARM ?= both
DL_ROOTS ?= --data-root data/bundled --extra-root data/corpus
deadleaves-data: $(VENV)/.installed
	test -f data/deadleaves/deadleaves_0095.png || $(PY) -m repro dead-leaves data/deadleaves --n 96
	$(BUILD) data/deadleaves_wild --split train --pairs 600 --photos data/deadleaves $(ARM_RECIPE)
photo-diversity-deadleaves: corpus-data deadleaves-data
	$(ARM_TRAIN) $(DL_ROOTS) --extra-root data/deadleaves_wild --out runs/diversity/$(DL_ARM)+deadleaves \
		--run $(DL_ARM)+deadleaves $(call resume_if,runs/diversity/$(DL_ARM)+deadleaves)
	$(DIVERSITY_REPORT)

# do no harm (issue 28): short windows (N = 1, 3, 5 frames: the same recipe, less blur; N = 1 is a
# sharp -> sharp pair) of the bundled photos and the corpus, a departure from the paper's N >= 7,
# to add to the chosen photos' pairs (--extra-root) if the network damages near-sharp images
short-data: photos
	$(BUILD) data/short_bundled --split train --pairs 150 --n-min 1 --n-max 5 $(ARM_RECIPE)
	$(BUILD) data/short_corpus --split train --pairs 150 --photos $(PHOTOS) --n-min 1 --n-max 5 $(ARM_RECIPE)

# the long run (preset cpu-12h) on the photos chosen above (LONG_ROOTS). Its width is chosen at equal
# time: `make width-choice` trains each width for WIDTH_MINUTES under the long run's own settings,
# so the winner's folder is the first part of the long run; `make long-run LONG_WIDTH=W` resumes it
# (every sitting: it stops after 12 hours of training or when validation stops improving), then
# trains DeblurNet^SI on the same photos with the same settings for as many steps as the WILD run trained
# (--steps-of its log: the same budget on machines of any speed), then the WILD run's control continuation below
LONG_ROOTS ?= $(DL_ROOTS)
LONG_WIDTH ?= 0.25
WILD_RUN = wild_w$(LONG_WIDTH)
SI_RUN = si_w$(LONG_WIDTH)
# a long run's folder and name, resumed when its folder has a last.pt (tested in the shell: make expands
# every recipe line before running the first, so $(wildcard) would miss a last.pt that a restore just wrote)
long_out = --out runs/long/$(1) --run $(1) $$(test -f runs/long/$(1)/last.pt && echo --resume)
WIDTH_MINUTES ?= 45
LONG_TRAIN = $(PY) -m repro train --preset cpu-12h $(LONG_ROOTS) --val-root data/bundled --val-root data/corpus \
	--results results/long_run --figures results/long_run
WIDTHS = 0.25 0.5 1
width-choice: corpus-data
	for w in $(WIDTHS); do \
		$(LONG_TRAIN) --set width=$$w --max-minutes $(WIDTH_MINUTES) $(call long_out,wild_w$$w) || exit 1; done
	$(MAKE) width-choice-report
# the equal-time table and curves of the widths trained so far (results/long_run/width_choice.{md,png})
width-choice-report: $(VENV)/.installed
	$(PY) -m repro.train.compare $(wildcard $(foreach w,$(WIDTHS),runs/long/wild_w$(w)/log.csv)) \
		--minutes $(WIDTH_MINUTES) --out results/long_run/width_choice.md --title "The long run's width at equal training time"
# do no harm (issue 28, step 6): the finished WILD run's best.pt trained on for SHORT_STEPS more steps
# with the short windows among its pairs (wild_w<W>_short), and, as the control, without them
# (wild_w<W>_cont, part of `make long-run`; the short windows' run: `make long-run-short`): same start, seed,
# learning rate and steps; `make long-run-eval` compares them by blur size
SHORT_STEPS ?= 4000
SHORT_LR ?= 5e-4
CONT_TRAIN = $(LONG_TRAIN) --set width=$(LONG_WIDTH) --set init=runs/long/$(WILD_RUN)/best.pt --set lr=$(SHORT_LR) \
	--steps $(SHORT_STEPS) --seed 1
LONG_RUNS = $(WILD_RUN) $(SI_RUN) $(WILD_RUN)_cont $(WILD_RUN)_short
RESTORE_LONG_RUNS = for run in $(LONG_RUNS); do test -f experiments/long_run/$$run/last.pt || continue; \
	$(PY) -m repro.train.snapshot restore experiments/long_run/$$run runs/long/$$run \
	--log results/long_run/train_$$run.csv || exit 1; done
long-run: corpus-data
	$(RESTORE_LONG_RUNS)
	$(LONG_TRAIN) --set width=$(LONG_WIDTH) $(call long_out,$(WILD_RUN))
	$(LONG_TRAIN) --data si --set width=$(LONG_WIDTH) --steps-of runs/long/$(WILD_RUN)/log.csv $(call long_out,$(SI_RUN))
	$(CONT_TRAIN) $(call long_out,$(WILD_RUN)_cont)
long-run-short: corpus-data short-data
	$(RESTORE_LONG_RUNS)
	$(LONG_TRAIN) --set width=$(LONG_WIDTH) $(call long_out,$(WILD_RUN))
	$(CONT_TRAIN) --extra-root data/short_bundled --extra-root data/short_corpus $(call long_out,$(WILD_RUN)_short)
# end of a sitting, once `make long-run` is stopped: each long run's log and curve into results/long_run/,
# its last.pt and best.pt into experiments/long_run/<run>/ (committed; `make long-run` puts them back
# where runs/long/ was lost, and resumes them exactly); the continuations too, once started
long-run-save: $(VENV)/.installed
	for run in $(LONG_RUNS); do test -f runs/long/$$run/last.pt || continue; \
		$(PY) -m repro.train.snapshot save runs/long/$$run experiments/long_run/$$run --results results/long_run \
		--run $$run || exit 1; done
# the long runs' best checkpoints so far, by blur size on their training pairs and on validation (never
# on test), with the do-no-harm check (< 4 px: at least -0.5 dB): results/long_run/by_blur.md
LONG_RUNS_STARTED = $(foreach run,$(WILD_RUN) $(WILD_RUN)_short $(WILD_RUN)_cont $(SI_RUN),$(if $(wildcard runs/long/$(run)/log.csv),--run $(run)))
long-run-eval: $(VENV)/.installed
	$(PY) -m repro.evaluate.long_run --runs runs/long $(LONG_RUNS_STARTED) --out results/long_run/by_blur.md
# once both long runs have stopped and `make long-run-eval` has compared them with the shipped networks on
# validation: ship the best WILD run on validation (the long run or a continuation; only if it beats the shipped
# network on the same validation pairs) and the SI run as the default networks, with their cards
# (repro/weights/deblurnet_{wild,si}.{pt,json}); then rerun the notebooks
WILD_CANDIDATES = --wild $(WILD_RUN) $(foreach run,$(WILD_RUN)_cont $(WILD_RUN)_short,$(if $(wildcard runs/long/$(run)/best.pt),--wild $(run)))
long-run-ship: $(VENV)/.installed
	$(PY) -m repro.train.ship --runs runs/long $(WILD_CANDIDATES) --si $(SI_RUN) --logs results/long_run \
		--out repro/weights --device "cpu (2 cores, fp32)" \
		--beat-shipped-on data/bundled --beat-shipped-on data/corpus --command "make long-run LONG_WIDTH=$(LONG_WIDTH)"

# ---- issue 43: the GPU job (docs/gpu.md) ----------------------------------------------------------
# on a machine with a GPU: prepare the carry from the corpus, then build the pairs and train DeblurNet^WILD and
# DeblurNet^SI side by side for GPU_MINUTES of wall time (DEVICE=cpu rehearses it); the bundle goes to GPU_OUT.
# With a lent GPU the two steps run apart: `python -m repro gpu-job prepare` here, `gpu-job run` there (docs/gpu.md)
GPU_MINUTES ?= 9
DEVICE ?= cuda
GPU_OUT ?= runs/gpu_job
gpu-job: $(VENV)/.installed
	$(PY) -m repro gpu-job run --prepare-from $(PHOTOS) --carry .gpujob --out $(GPU_OUT) --device $(DEVICE) \
		--minutes $(GPU_MINUTES)
# the returned bundle (DIR): measured with the shipped networks on the validation pairs of data/bundled and
# data/corpus; shipped only if both networks beat theirs (repro.train.gpu_ship), then the results are remade
gpu-ship: $(VENV)/.installed
	@test -n "$(DIR)" || { echo "error: make gpu-ship DIR=<the folder a GPU job wrote>" >&2; exit 2; }
	$(PY) -m repro gpu-ship $(DIR)
	$(MAKE) reproduce
	$(MAKE) demo-reference
