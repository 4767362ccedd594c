# Two commands do all the set-up on a fresh machine:
#   make demo   builds a tiny Flamingo offline and runs the main job
#   make test   runs the whole test suite (every notebook, through nbdev_test)
SHELL := /bin/bash
PYTHON ?= python3
# the interpreter itself, also one pyenv has but does not have active (`make test PYTHON=python3.13` on the project
# machines); another interpreter than python3 gets a venv of its own
PYTHON_EXE := $(shell $(PYTHON) -c 'import sys; print(sys.executable)' 2>/dev/null || ls -d $(HOME)/.pyenv/versions/$(patsubst python%,%,$(notdir $(PYTHON))).*/bin/$(notdir $(PYTHON)) 2>/dev/null | sort -V | tail -1)
VENV ?= $(if $(filter python3,$(PYTHON)),.venv,.venv-$(notdir $(PYTHON)))
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PYTHONWARNINGS := ignore::DeprecationWarning

.PHONY: install demo demo-report families test readme check-sync docs docs-test web-test web-battery world compat core-check

# the package with every extra (training, the tiny world, plots, the web chat): what the demo needs to run (its
# first command installs only this); a user who only runs a model needs `pip install flamingo_mini` alone
$(BIN)/.installed-run: setup.py settings.ini constraints.txt
	test -x $(BIN)/python || $(PYTHON_EXE) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt torch
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[all]"
	touch $@

# and the development tools: nbdev, Jupyter, the docs site's builders
$(BIN)/.installed: $(BIN)/.installed-run
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed-run
	$(BIN)/flamingo-mini demo

test: install
	OMP_NUM_THREADS=1 $(BIN)/nbdev_test --n_workers 2 --timing

# Rebuilds the tiny world shipped in flamingo_mini/tiny_world (what `make demo` uses) from nothing, with the
# default settings of pretrain.build_tiny_world; commit the result with a TINY_WORLD_VERSION change
world: install
	$(BIN)/python -c "from flamingo_mini.pretrain import *; build_tiny_world(embedded_world_dir(), rebuild=True, log_every=500)"

# The task-family tutorial (nbs/26_families): its own LM, Flamingo layers trained on VQA, counting and video clips,
# and their few-shot curves (about half an hour on two cores); the report is copied to reports/families and the page
# re-rendered from it
families: install
	$(BIN)/python -c "from flamingo_mini.families import run_families; run_families('families-run')"
	mkdir -p reports/families && cp families-run/report.json reports/families/
	$(BIN)/python tools/execute_nb.py nbs/26_families.ipynb
	$(BIN)/nbdev_clean --fname nbs/26_families.ipynb

# README.md is written from nbs/index.ipynb and its stored outputs (nbdev_readme needs quarto)
readme: install
	cd nbs && ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace index.ipynb
	$(BIN)/nbdev_clean --fname nbs/index.ipynb
	$(BIN)/python tools/make_readme.py

# Refreshes the committed demo report (reports/demo/, which the README, index and 18_demo render) from a fresh
# `make demo`, and re-executes the pages that render it (18_demo's slow cells are not run)
demo-report: demo install
	cp flamingo-demo/report.json flamingo-demo/samples.png reports/demo/
	$(BIN)/python tools/execute_nb.py nbs/18_demo.ipynb
	$(BIN)/nbdev_clean --fname nbs/18_demo.ipynb
	$(MAKE) readme

# The docs site in _docs/, built offline from the notebooks' stored outputs (nbdev_docs needs quarto)
docs: install
	$(BIN)/python tools/build_docs.py

# Opens the built site in headless Chromium (Debian's, installed when missing) and checks its pages
docs-test: docs
	command -v chromium >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }
	$(BIN)/python tools/test_docs.py

# A new user's first hour, scripted: loading with and without the import, pipelines with prompts and chat messages,
# few-shot prompts in the trained format, every command's --help and a missing path, a warning-free build
.PHONY: first-hour
first-hour: install
	$(BIN)/python tools/first_hour.py

# Serves the built site on http://127.0.0.1:8000 (this machine only): its search needs a server, so pages opened
# from file:// show the pages but point here for search
.PHONY: serve-docs
serve-docs: docs
	@echo "docs at http://127.0.0.1:$(or $(PORT),8000)/index.html (Ctrl-C stops)"
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory _docs $(or $(PORT),8000)

# Serves a tiny checkpoint with the web chat and drives its page in headless Chromium (Debian's, installed when missing)
web-test: install
	command -v chromium >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }
	$(BIN)/python tools/test_web.py

# Load and abuse battery of the web chat, against 127.0.0.1 only (minutes); writes tools/web_battery.json, which the web
# page renders and checks
web-battery: install
	$(BIN)/python tools/web_battery.py --out tools/web_battery.json

# CI's hygiene checks: notebooks are stripped and the library is in sync with them
check-sync: install
	$(BIN)/nbdev_clean
	$(BIN)/nbdev_export
	$(BIN)/python tools/make_readme.py --check
	@git diff --exit-code --stat -- nbs flamingo_mini || (echo "nbdev_clean/nbdev_export changed tracked files: run them and commit"; exit 1)
	@test -z "$$(git status --porcelain --untracked-files=all -- flamingo_mini nbs)" || (git status --short -- flamingo_mini nbs; echo "untracked files after nbdev_export"; exit 1)

# The compatibility job: the core chapters on the oldest supported versions (constraints-floor.txt: Python 3.10,
# transformers 5.7, torch 2.6) and on the newest transformers and torch the registry serves (Python 3.13), each in
# its own venv, cached under ~/.cache/flamingo-mini-venvs by its constraints' hash; transformers' deprecation
# warnings about our calls fail it. Writes nbs/compat_report.json, which the Installing page renders (commit it).
# COMPAT_ARGS="--jobs floor" runs one job, "--report ''" writes no report.
COMPAT_ARGS ?=
compat:
	$(PYTHON_EXE) tools/compat.py $(COMPAT_ARGS)

# Benchmarks against the bare LM, OpenFlamingo 2.0.1 and flamingo-pytorch 0.1.2 (benchmarks/run.py; results in
# benchmarks/results/). The peers need transformers 4.52.4, so they get a venv of their own. On a shared two-core
# machine use `make bench BENCH_ARGS=--quick` (a few minutes); the full run repeats everything three times.
PEERS := benchmarks/.venv-peers
BENCH_ARGS ?=
.PHONY: bench

$(PEERS)/.installed: benchmarks/requirements-peers.txt
	test -x $(PEERS)/bin/python || $(PYTHON_EXE) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install -q --upgrade pip
	$(PEERS)/bin/python -m pip install -q -r benchmarks/requirements-peers.txt
	$(PEERS)/bin/python -m pip install -q --no-deps open-flamingo==2.0.1 flamingo-pytorch==0.1.2
	touch $@

bench: install $(PEERS)/.installed
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# The package with its core requirements only (no extra), in a venv cached under ~/.cache/flamingo-mini-venvs:
# importing it, building a model from the shipped parts, generating, saving and loading work, and what needs an
# extra (training, the tiny world, the web chat) says in one line which extra to install
core-check:
	$(PYTHON_EXE) tools/core_check.py

# One training step at real sizes on the CPU (GPT-2 small + ViT-B/32, OPT-350m + ViT-L/14, Llama-3.2-1B + SigLIP
# so400m shapes, random weights; each size in a fresh process, one after the other, with and without activation
# checkpointing): peak memory against the memory plan. About 8 GB and 15 minutes on one core; writes
# benchmarks/results/cpu-real-size.json, which the benchmarks and memory plan pages render
.PHONY: bench-real-size
bench-real-size: install
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/real_size.py
