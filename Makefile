# gluon-densenet: `make run` trains the default model, `make test` runs every test.
# Both create .venv and install what they need on first use.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
CLASSROOM_STAMP := $(VENV)/.installed-classroom
BOOK_STAMP := $(VENV)/.installed-book

# An offline copy of Fashion-MNIST beside the clone (as on the project's own machines)
# is used when GLUON_DENSENET_DATA is not set; elsewhere the data is downloaded.
SHARED_DATA := $(wildcard $(CURDIR)/../shared/data/fashion-mnist)
ifneq ($(SHARED_DATA),)
export GLUON_DENSENET_DATA ?= $(abspath $(SHARED_DATA))
endif

.PHONY: install run test lint test-unit test-notebooks pages full-runs student classroom-check book \
        book-check bench speedrun torch clean

$(STAMP): pyproject.toml scripts/install.sh
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/install.sh
	touch $@

# The test extra (pytest, nbval, ruff, pyyaml), the classroom extra (nbgrader, whose
# grading check is a test) and the book extra (Sphinx, Selenium: the book's browser test)
# on top of what `make install` gives.
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[test,classroom,book]"
	touch $@

$(CLASSROOM_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[classroom]"
	touch $@

$(BOOK_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[book]"
	touch $@

install: $(STAMP)

# Optional, never needed by the package: PyTorch and torchvision for the torchvision converter's
# tests (skipped without them, except on CI) and the benchmarks' side-by-side runs, pinned to
# the releases they were tested with. PyPI's wheels are CUDA builds (several GB), which run on
# the CPU; PyTorch's CPU-only index is not among the registries CI can reach.
TORCH_PACKAGES ?= torch==2.14.1 torchvision==0.29.1
torch: $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH_PACKAGES)

run: $(STAMP)
	$(BIN)/gluon-densenet train

test: $(TEST_STAMP)
	$(BIN)/ruff check .
	GLUON_DENSENET_SMOKE=$${GLUON_DENSENET_SMOKE-1} $(BIN)/python -m pytest tests notebooks --nbval --nbval-current-env \
	    --nbval-sanitize-with notebooks/sanitize.cfg --durations=15

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

test-unit: $(TEST_STAMP)
	$(BIN)/python -m pytest tests

test-notebooks: $(TEST_STAMP)
	GLUON_DENSENET_SMOKE=$${GLUON_DENSENET_SMOKE-1} $(BIN)/python -m pytest notebooks --nbval --nbval-current-env \
	    --nbval-sanitize-with notebooks/sanitize.cfg

# Re-execute every chapter as a full run and store its outputs: the pages readers see.
# Experiments whose settings are unchanged reuse the committed notebooks/results/*.json;
# chapters 3 and 8 train on their pages (notebooks/page_times.json: each page's time).
pages: $(STAMP)
	GLUON_DENSENET_SMOKE=0 $(BIN)/python scripts/execute_notebooks.py

# Redo every experiment from scratch (results/*.json and pages): about 1.5 hours on a
# 2-core CPU. Run it on a quiet machine: the chapters report timings.
full-runs: $(STAMP)
	GLUON_DENSENET_SMOKE=0 GLUON_DENSENET_RERUN=1 $(BIN)/python scripts/execute_notebooks.py

# The classroom edition (docs/teaching.md): dist/teacher, an nbgrader course with the model
# answers, and dist/student, the hand-outs without them.
student: $(CLASSROOM_STAMP)
	$(BIN)/python -m classroom build --out dist

# Build it and autograde both ways in smoke mode: the teacher's answers must earn every
# auto-graded point, the unanswered hand-outs none (also part of `make test`).
classroom-check: $(CLASSROOM_STAMP)
	$(BIN)/python -m classroom check --out build/classroom

# The web book: build/book/html, rendered from the committed notebooks (never re-executed),
# with MathJax served from the book itself. Open build/book/html/index.html.
book: $(BOOK_STAMP)
	$(BIN)/python -m book build

# Build it and open every page in headless Chromium (Debian's chromium and chromium-driver):
# console errors, images, math, links; screenshots in build/book-screenshots/ (also part of
# `make test`, which skips it where Chromium is not installed).
book-check: $(BOOK_STAMP)
	$(BIN)/python -m book check

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# Fashion-MNIST in 10 minutes of training on this machine: the recipe chosen on validation
# (benchmarks/speedrun.py; --search redoes the choice), its test accuracy measured once.
speedrun: $(STAMP)
	$(BIN)/python -m benchmarks.speedrun

# dist/ is left alone: dist/teacher may hold students' submissions and grades.
clean:
	rm -rf $(VENV) .pytest_cache runs build
