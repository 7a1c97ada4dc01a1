# tsvq — two commands on a fresh clone: `make book` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export OMP_WAIT_POLICY ?= PASSIVE
DATASET ?= GunPoint
PROFILE ?= cpu
SEEDS   ?= 0
DATA_DIR ?=
NOTEBOOKS ?=
DATASETS ?= $(DATASET)
WORKERS ?= 1

.PHONY: venv test book run grid check-book clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

test: venv
	$(PY) -m pytest -q

run: venv
	$(VENV)/bin/tsvq run --dataset $(DATASET) --profile $(PROFILE) --seeds $(SEEDS) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS))

grid: venv
	$(VENV)/bin/tsvq grid --datasets $(DATASETS) --seeds $(SEEDS) --profile $(PROFILE) --workers $(WORKERS) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

book: venv
	$(VENV)/bin/tsvq book --default-dataset $(DATASET) --profile $(PROFILE) --seeds $(SEEDS) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

check-book: book
	$(PY) scripts/check_book.py

clean:
	rm -rf _build
