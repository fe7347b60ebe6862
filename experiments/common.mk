# What the top-level Makefile and the experiments' Makefiles share: variables only, no targets.
# Every path is relative to the repository root, where every recipe runs (`cd $(ROOT) &&` in experiments/<topic>/).
VENV := .venv
PY := $(VENV)/bin/python
# the wallpaper corpus (`make photos`, never committed)
PHOTOS ?= data/photos
# WILD pairs of the corpus and of the bundled photos by one recipe, so that the photo sets differ in their
# photos only: every scale of each photo, the camera's own flow (docs/photo_corpus.md); each build
# resumes where it stopped
BUILD := $(PY) -m repro build-wild virtual
ARM_RECIPE := --magnification multi --flow-backend true --no-progress
# `make help`: each target of a Makefile ($(1)) that has a `## ` comment after it, with that comment
help_lines = awk -F ':.*\#\# ' '/^[a-zA-Z][a-zA-Z0-9_.-]*:.*\#\# / {n++; t[n] = $$1; h[n] = $$2; if (length($$1) > w) w = length($$1)} \
	END {for (i = 1; i <= n; i++) printf "  %s  %s\n", sprintf("%-" w "s", t[i]), h[i]}' $(1)
