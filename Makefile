# mnistlab: `make lab` runs the course, `make test` checks it. See README.md.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin

# Everything the course writes stays inside the project (all git-ignored).
# Jupyter's and IPython's folders: keep them as `export NAME := $(CURDIR)/.jupyter/SUB`: tests/test_browser.py
# starts its JupyterLab with this same list (tests/conftest.py, jupyter_folders).
export MNISTLAB_CACHE      ?= $(CURDIR)/.cache/mnistlab
export MPLCONFIGDIR        := $(CURDIR)/.cache/matplotlib
export JUPYTER_RUNTIME_DIR := $(CURDIR)/.jupyter/runtime
export JUPYTER_DATA_DIR    := $(CURDIR)/.jupyter/data
export JUPYTER_CONFIG_DIR  := $(CURDIR)/.jupyter/config
export IPYTHONDIR          := $(CURDIR)/.jupyter/ipython
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# JupyterLab's language-server extension runs npm at start-up; npm logs into its cache folder.
export npm_config_cache   := $(CURDIR)/.cache/npm

PORT ?= 8888
NOTEBOOKS ?= notebooks  # make lab NOTEBOOKS=student opens the students' copies (make student)
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg
# Two workers; --dist loadfile keeps each notebook's cells on one worker, in order.
XDIST := -n 2 --dist loadfile
# One compute thread per worker: two workers already fill two cores, and two-thread kernels
# that wait on each other made small-step notebooks (04) over 10x slower on a busy machine.
# Every compared output is checked to be the same with 1 and 2 threads.
TEST_THREADS := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: setup lab lab-zh test test-students test-gpu lint unit unit-fast nbval notebooks clean doctor wheelhouse student grade

setup:
	@bash scripts/setup.sh

JUPYTER_LAB := $(BIN)/jupyter lab --no-browser --ip 127.0.0.1 --port $(PORT) --allow-root
lab: setup
	$(JUPYTER_LAB) --ServerApp.root_dir=$(NOTEBOOKS)

# The Chinese course (notebooks/zh/, built by scripts/build_zh.py) in JupyterLab's Chinese interface: a settings
# folder of its own chooses zh_CN (the language pack is in requirements.txt), MNISTLAB_LANG=zh the widgets'
# labels. A student's changes to those settings are kept.
ZH_SETTINGS := $(CURDIR)/.jupyter/config/lab/user-settings-zh
ZH_LOCALE   := $(ZH_SETTINGS)/@jupyterlab/translation-extension/plugin.jupyterlab-settings
lab-zh: setup
	@mkdir -p "$(dir $(ZH_LOCALE))"
	@test -f "$(ZH_LOCALE)" || echo '{"locale": "zh_CN"}' > "$(ZH_LOCALE)"
	JUPYTERLAB_SETTINGS_DIR="$(ZH_SETTINGS)" MNISTLAB_LANG=zh $(JUPYTER_LAB) --ServerApp.root_dir=notebooks/zh

# Compared notebook cells compute on the CPU on every machine (a GPU machine included), so nbval compares
# CPU numbers with CPU numbers; the GPU is for the lessons about it, in class, and for make test-gpu.
test unit unit-fast nbval notebooks test-students: export MNISTLAB_DEVICE := cpu

test: export MNISTLAB_SETUP_BROWSER := 1
test: setup lint
	@$(TEST_THREADS) $(BIN)/pytest $(XDIST) $(NBVAL) -m "not student_copies" --durations=10 tests notebooks; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "mnistlab: pytest collected no tests: that is a failure"; exit 1; fi; \
	exit $$rc

lint: setup
	$(BIN)/ruff check .

# Is this machine ready? One line per check (packages, device, data, cache, Graphviz, JupyterLab);
# exit status 1 if any line says FAIL.
doctor: setup
	$(BIN)/python -m mnistlab doctor

# A classroom without internet: run this on one machine with internet (same operating system, processor
# kind and Python as the seats), then copy the project folder with wheelhouse/ to every seat; there
# `make lab` and `make test` install from wheelhouse/ and never ask a package index.
wheelhouse:
	@test -x $(BIN)/python || $${PYTHON:-python3} -m venv $(VENV)
	@bash scripts/install_requirements.sh --download $(BIN)/python

# The students' notebooks in student/ (git-ignored): solutions replaced by stubs, hidden tests removed.
# A copy changed since it was written (a student's work) is kept: `make student FORCE=1` replaces it.
student: setup
	$(BIN)/python -m mnistlab student --out student $(if $(FORCE),--force)

# Grade a class: SUBMISSIONS holds one folder per student, DIR/<student>/<notebook>.ipynb. Writes
# $(GRADES) (one row per student, notebook and exercise) and prints a summary; nothing in DIR is changed.
GRADES ?= grades.csv
grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=DIR [GRADES=grades.csv]"; exit 2; }
	$(BIN)/python -m mnistlab grade "$(SUBMISSIONS)" --out "$(GRADES)"

# Run All of every student copy (make student), as a student or the grader would: no error may show.
# As long as the notebooks themselves, so kept out of make test; .ci/run runs it after make test.
test-students: setup
	$(TEST_THREADS) $(BIN)/pytest -n 2 --dist load -m student_copies tests

# A CUDA machine: every notebook on the GPU (no error, no stderr, every verdict line holds), then the GPU's
# figures (matmul against its peak, the seed's recipe against --fast for one epoch, time to 99%). Under
# 8 minutes; without a GPU it says so and exits 2.
test-gpu: setup
	$(BIN)/python benchmarks/gpu_check.py

# Fast loops for maintainers.
unit: setup
	$(TEST_THREADS) $(BIN)/pytest $(XDIST) tests

# The quick loop: the unit tests without those marked slow (over ~3 s each: subprocesses, JupyterLab, torchrun).
unit-fast: setup
	$(TEST_THREADS) $(BIN)/pytest $(XDIST) -m "not slow" tests

nbval: setup
	$(TEST_THREADS) $(BIN)/pytest $(XDIST) $(NBVAL) notebooks

# Re-execute every notebook in place in a fresh kernel (refreshes the committed outputs).
# Re-execute the English notebooks in place, then rebuild the Chinese edition from them (same outputs).
notebooks: setup
	$(BIN)/python scripts/run_notebooks.py notebooks/*.ipynb
	$(BIN)/python scripts/build_zh.py

clean:
	rm -rf .cache .jupyter test-output notebooks/checkpoints notebooks/zh/checkpoints notebooks/zh/runs
