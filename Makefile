# Thin layer over the `humpback` CLI. Each target installs what it needs into .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE_WARC := etl/sample_corpus/sample.warc.gz
CORPUS ?= $(SAMPLE_WARC)
WAREHOUSE ?= warehouse-data
WORKERS ?= 0
ETL_ARGS ?=

.PHONY: install etl test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(SAMPLE_WARC): $(STAMP) etl/sample_corpus/build_warc.py $(wildcard etl/sample_corpus/pages/*.html)
	$(BIN)/python etl/sample_corpus/build_warc.py --out $@

etl: $(STAMP) $(SAMPLE_WARC)
	$(BIN)/humpback etl $(CORPUS) --warehouse $(WAREHOUSE) --workers $(WORKERS) $(ETL_ARGS)

test: $(STAMP) $(SAMPLE_WARC)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/etl_vs_datatrove.py

clean:
	rm -rf $(WAREHOUSE) $(SAMPLE_WARC)
