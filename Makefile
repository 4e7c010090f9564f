# gluon-densenet: `make run` trains the default model, `make test` runs every test.
# Both create .venv and install what they need on first use.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# An offline copy of Fashion-MNIST beside the clone (as on the project's own machines)
# is used when GLUON_DENSENET_DATA is not set; elsewhere the data is downloaded.
SHARED_DATA := $(wildcard $(CURDIR)/../shared/data/fashion-mnist)
ifneq ($(SHARED_DATA),)
export GLUON_DENSENET_DATA ?= $(abspath $(SHARED_DATA))
endif

.PHONY: install run test test-unit test-notebooks notebooks bench clean

$(STAMP): pyproject.toml scripts/install.sh
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/install.sh
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/gluon-densenet train

test: $(STAMP)
	GLUON_DENSENET_SMOKE=$${GLUON_DENSENET_SMOKE-1} $(BIN)/python -m pytest tests notebooks --nbval --nbval-current-env \
	    --nbval-sanitize-with notebooks/sanitize.cfg

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests

test-notebooks: $(STAMP)
	GLUON_DENSENET_SMOKE=$${GLUON_DENSENET_SMOKE-1} $(BIN)/python -m pytest notebooks --nbval --nbval-current-env \
	    --nbval-sanitize-with notebooks/sanitize.cfg

# Re-execute every chapter in smoke mode and store its outputs (what nbval compares).
notebooks: $(STAMP)
	$(BIN)/python scripts/execute_notebooks.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache runs
