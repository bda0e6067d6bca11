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
# Model stages: the embedded model unless MODEL (a GGUF path) or SERVER (a llama.cpp server URL) is set.
MODEL ?=
SERVER ?=
MODE ?= direct
SEEDS ?=
PORT ?= 8080
MODEL_ARGS = $(if $(MODEL),--model $(MODEL)) $(if $(SERVER),--server $(SERVER))

.PHONY: install etl seeds augment curate serve sql export test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(SAMPLE_WARC): $(STAMP) etl/sample_corpus/build_warc.py $(wildcard etl/sample_corpus/pages/*.html)
	$(BIN)/python etl/sample_corpus/build_warc.py --out $@

# The whole pipeline: extract and filter segments, load the seeds, write instructions, score the pairs.
etl: $(STAMP) $(SAMPLE_WARC)
	$(BIN)/humpback etl $(CORPUS) --warehouse $(WAREHOUSE) --workers $(WORKERS) $(ETL_ARGS)
	$(MAKE) --no-print-directory seeds augment curate

# SEEDS: seed JSONL files; none means the embedded seed set.
seeds: $(STAMP)
	$(BIN)/humpback seed load $(SEEDS) --warehouse $(WAREHOUSE)

augment: $(STAMP)
	$(BIN)/humpback augment --warehouse $(WAREHOUSE) $(MODEL_ARGS)

curate: $(STAMP)
	$(BIN)/humpback curate --warehouse $(WAREHOUSE) --mode $(MODE) $(MODEL_ARGS)

# A llama.cpp server on loopback for the configured model; use it with SERVER=http://127.0.0.1:$(PORT).
serve: $(STAMP)
	$(BIN)/python -m llama_cpp.server --host 127.0.0.1 --port $(PORT) --n_ctx 4096 \
		--model $(or $(MODEL),$(shell $(BIN)/python -c 'from inference.models import embedded_model_path as p; print(p())'))

# Q: a SELECT over the warehouse's tables and views (sql/views/); OUT: optional .csv, .json or .parquet file.
sql: $(STAMP)
	$(BIN)/humpback sql "$(Q)" --warehouse $(WAREHOUSE) $(if $(OUT),--out $(OUT))

# The seed set and A_k as training JSONL: make export OUT=train.jsonl [K=4.5] [FORMAT=alpaca] [EXCLUDE=eval.jsonl]
K ?= 4
FORMAT ?= chat
export: $(STAMP)
	$(BIN)/humpback export --warehouse $(WAREHOUSE) --out $(OUT) --min-score $(K) --format $(FORMAT) \
		$(if $(EXCLUDE),--exclude $(EXCLUDE))

test: $(STAMP) $(SAMPLE_WARC)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/etl_vs_datatrove.py
	$(BIN)/python benchmarks/curate_vs_distilabel.py

clean:
	rm -rf $(WAREHOUSE) $(SAMPLE_WARC)
