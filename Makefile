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
# ENGINE local | ray; ADDRESS joins a running Ray cluster (default: a local Ray instance on 127.0.0.1).
ENGINE ?= local
ADDRESS ?=
ENGINE_ARGS = --engine $(ENGINE) $(if $(ADDRESS),--address $(ADDRESS))
# Model stages: the embedded model unless MODEL (a GGUF path) or SERVER (a llama.cpp server URL) is set.
MODEL ?=
SERVER ?=
# MODE: the scoring mode of curate and report (calibrated | direct | reasoned); ITERATE_MODE: the loop's,
# direct by default: a calibration of a model fine-tuned on the seeds would be fitted on its own training pairs.
MODE ?= calibrated
ITERATE_MODE ?= direct
# SEEDS: the seed JSONL files of `make etl`. By default the embedded seed set and our web-style seed
# pairs (etl/seeds/web_seeds.jsonl): a backward model trained on both writes instructions their web
# segments answer more often (README "More seeds, better instructions").
SEEDS ?= etl/seeds/embedded_seeds.jsonl etl/seeds/web_seeds.jsonl
# BACKWARD: the backward model p(instruction | output) of `make etl`. trained: fine-tune it on the seeds
# first (LoRA, preset BACKWARD_PRESET; it writes instructions that fit their segments better than
# few-shot prompting, README "Self-augmentation"); few-shot: the base model shown seed examples, no
# PyTorch. With MODEL or SERVER, that model writes them and nothing is trained.
BACKWARD ?= trained
BACKWARD_PRESET ?= cpu
# BACKWARD_STEPS: its optimiser steps (empty: the preset's epoch). 26 steps of 8 rows see about 60% of
# the default seeds' rows once, in the time one epoch of the first 205 rows took; measured with the
# labelled pairs (README "More web seeds, of the kinds that failed").
BACKWARD_STEPS ?= 26
TRAIN_BACKWARD = $(if $(MODEL)$(SERVER),,$(filter trained,$(BACKWARD)))
PORT ?= 8080
# make serve: SERVER_IMPL llama-server (upstream, built once from the llama-cpp-python sdist's llama.cpp)
# or python (llama_cpp.server); PARALLEL slots, THREADS, HOST (loopback unless ALLOW_REMOTE=1).
SERVER_IMPL ?= llama-server
PARALLEL ?= 4
THREADS ?=
HOST ?= 127.0.0.1
ALLOW_REMOTE ?=
LLAMA_SERVER := $(BIN)/llama-server
# Self-Instruct: TASKS seed-task JSONL files (none: the embedded seed set), TARGET generated tasks.
TASKS ?=
TARGET ?= 8
K ?= 4
# benchmarks/data_value.py's folder (its pipeline, models and figures, kept to resume) and budget
DATA_VALUE_DIR ?= bench-data-value
DATA_VALUE_BUDGET ?= small
FORMAT ?= chat
MODEL_ARGS = $(if $(MODEL),--model $(MODEL)) $(if $(SERVER),--server $(SERVER))
# Training (the separate package in training/): PRESET tiny | cpu | paper; ITERATE_ARGS for the rest.
TRAIN_STAMP := $(VENV)/.installed-training
TORCH ?= torch==2.13.0
ITERATIONS ?= 2
PRESET ?= tiny
ITERATE_ARGS ?=
# llama.cpp compiles for this CPU (-march=native) less its AMX kernels: on a guest that reports AMX
# without granting its register state they fault on the first decode (seen here: a general protection
# fault in libggml-cpu). A CUDA or Metal user sets LLAMA_CMAKE_ARGS (e.g. -DGGML_CUDA=on).
ifeq ($(shell uname -m),x86_64)
AMX_OFF := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS ?= -DCMAKE_C_FLAGS="$(AMX_OFF)" -DCMAKE_CXX_FLAGS="$(AMX_OFF)"
else
LLAMA_CMAKE_ARGS ?=
endif

# llama-cpp-python is built from its pinned source package (the version in constraints.txt, checked
# against the sha256 there), unpacked in .venv/src; its CMake build tree stays there, so that `make
# llama-server` compiles only the server's own sources in it, and a reinstall recompiles nothing.
LLAMA_VERSION := $(shell sed -n 's/^llama_cpp_python==//p' constraints.txt)
LLAMA_SHA256 := $(shell sed -n 's/^\# llama_cpp_python sdist sha256: //p' constraints.txt)
LLAMA_SDIST := $(VENV)/src/llama_cpp_python-$(LLAMA_VERSION).tar.gz
LLAMA_SRC := $(VENV)/src/llama_cpp_python-$(LLAMA_VERSION)
LLAMA_TREE := $(abspath $(LLAMA_SRC))/build
JOBS ?= $(shell nproc)

.PHONY: install install-training etl seeds backward augment curate self-instruct iterate report serve llama-server sql \
	export eval compact \
	test test-fast lint \
	bench bench-training clean

install: $(STAMP)

# PyTorch first, so that the training package finds it; a GPU user sets TORCH to the CUDA build.
install-training: $(TRAIN_STAMP)

$(TRAIN_STAMP): $(STAMP) training/pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e training
	touch $@

$(LLAMA_SRC)/pyproject.toml: constraints.txt
	mkdir -p $(VENV)/src
	$(PYTHON) -m pip download --quiet --no-deps --no-binary llama-cpp-python -d $(VENV)/src \
		'llama-cpp-python==$(LLAMA_VERSION)'
	echo '$(LLAMA_SHA256)  $(LLAMA_SDIST)' | sha256sum --check --quiet
	tar -xzf $(LLAMA_SDIST) -C $(VENV)/src
	touch $@

# The build tree under Makefiles (not a Ninja that pip would fetch into a build environment it then
# deletes), with every core; without llama.cpp's multimodal library (LLAVA_BUILD: the engine reads and
# writes text), which llama-server's build then compiles once for itself.
$(STAMP): pyproject.toml constraints.txt $(LLAMA_SRC)/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS) -DLLAVA_BUILD=OFF' CMAKE_GENERATOR='Unix Makefiles' CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) \
		$(BIN)/python -m pip install --quiet -c constraints.txt --config-settings build-dir=$(LLAMA_TREE) \
		'$(LLAMA_SRC)[server]'
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

$(SAMPLE_WARC): $(STAMP) etl/sample_corpus/build_warc.py $(wildcard etl/sample_corpus/pages/*.html)
	$(BIN)/python etl/sample_corpus/build_warc.py --out $@

# The whole pipeline: extract and filter segments, load the seeds, write instructions, score the pairs,
# and end with the report's location.
etl: $(STAMP) $(SAMPLE_WARC)
	$(BIN)/humpback etl $(CORPUS) --warehouse $(WAREHOUSE) --workers $(WORKERS) $(ENGINE_ARGS) $(ETL_ARGS)
	$(MAKE) --no-print-directory seeds $(if $(TRAIN_BACKWARD),backward) augment curate report

# SEEDS: seed JSONL files (above); SEEDS= (empty) loads the embedded seed set alone (into a fresh
# WAREHOUSE: the seeds table only grows).
seeds: $(STAMP)
	$(BIN)/humpback seed load $(SEEDS) --warehouse $(WAREHOUSE)

# M_yx on the warehouse's seeds; trained once per seed set and settings, then found in the models table.
backward: $(TRAIN_STAMP)
	$(BIN)/humpback train --role backward --warehouse $(WAREHOUSE) --preset $(BACKWARD_PRESET) \
		$(if $(BACKWARD_STEPS),--max-steps $(BACKWARD_STEPS))

augment: $(STAMP)
	$(BIN)/humpback augment --warehouse $(WAREHOUSE) $(MODEL_ARGS) $(ENGINE_ARGS) \
		$(if $(filter few-shot,$(BACKWARD)),--base)

curate: $(STAMP)
	$(BIN)/humpback curate --warehouse $(WAREHOUSE) --mode $(MODE) $(MODEL_ARGS) $(ENGINE_ARGS)

# Self-Instruct on the same warehouse: load the seed tasks, grow the pool to TARGET generated tasks
# (classified, with instances), then rate the instances with the same self-curation.
self-instruct: $(STAMP)
	$(BIN)/humpback tasks load $(TASKS) --warehouse $(WAREHOUSE)
	$(BIN)/humpback self-instruct --warehouse $(WAREHOUSE) --target $(TARGET) $(MODEL_ARGS) $(ENGINE_ARGS)
	$(BIN)/humpback curate --pairs self-instruct --warehouse $(WAREHOUSE) --mode $(MODE) $(MODEL_ARGS) $(ENGINE_ARGS)

# The Humpback loop on the warehouse: train M_yx and augment, train M0 and curate, train M1 and rescore.
iterate: $(TRAIN_STAMP)
	$(BIN)/humpback iterate --warehouse $(WAREHOUSE) --iterations $(ITERATIONS) --preset $(PRESET) \
		--min-score $(K) --mode $(ITERATE_MODE) $(ITERATE_ARGS)

# The HTML report (funnel, scores, lengths, leading verbs, samples): <warehouse>/report.html
report: $(STAMP)
	$(BIN)/humpback report --warehouse $(WAREHOUSE) $(if $(OUT),--out $(OUT)) --min-score $(K) \
		$(if $(filter-out calibrated,$(MODE)),--mode $(MODE))

# A llama.cpp server on loopback for the configured model, until Ctrl-C; use it with
# SERVER=http://127.0.0.1:$(PORT). Upstream llama-server is compiled on first use (about 9 minutes on 2 cores).
serve: $(STAMP) $(if $(filter llama-server,$(SERVER_IMPL)),llama-server)
	$(BIN)/humpback serve --impl $(SERVER_IMPL) --host $(HOST) --port $(PORT) --parallel $(PARALLEL) \
		$(if $(THREADS),--threads $(THREADS)) $(if $(MODEL),--model $(MODEL)) $(if $(ALLOW_REMOTE),--allow-remote)

# Upstream llama-server, compiled in the in-process library's own llama.cpp build tree (the same
# sources and CMake flags; only the server's own files are new); a no-op once built from that version
# with those flags.
llama-server: $(STAMP)
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(BIN)/python -m inference.serving.build --out $(LLAMA_SERVER) \
		--tree $(LLAMA_TREE) --jobs $(JOBS)

# Q: a SELECT over the warehouse's tables and views (sql/views/); OUT: optional .csv, .json or .parquet file.
sql: $(STAMP)
	$(BIN)/humpback sql "$(Q)" --warehouse $(WAREHOUSE) $(if $(OUT),--out $(OUT))

# The seed set and A_k as training JSONL: make export OUT=train.jsonl [K=4.5] [FORMAT=alpaca]
# [EXCLUDE=eval.jsonl] [SELF_INSTRUCT=1: add the curated Self-Instruct pairs]
export: $(STAMP)
	$(BIN)/humpback export --warehouse $(WAREHOUSE) --out $(OUT) --min-score $(K) --format $(FORMAT) \
		$(if $(EXCLUDE),--exclude $(EXCLUDE)) $(if $(SELF_INSTRUCT),--self-instruct)

# Merge the model stages' small batch files into big ones (the stages do it at the end of a run once
# they leave enough of them): make compact [TABLES="scores augmentations"]
TABLES ?=
compact: $(STAMP)
	$(BIN)/humpback compact --warehouse $(WAREHOUSE) $(foreach t,$(TABLES),--table $(t))

# Pairwise evaluation: make eval A=M1.gguf B=M0.gguf [PROMPTS=questions.jsonl] [JUDGE=judge.gguf]
# [EVAL_ARGS="--limit 20 --answers-b ref.jsonl ..."]. A and JUDGE default to the embedded model; without B
# side B is the same model with another seed.
PROMPTS ?=
A ?=
B ?=
JUDGE ?=
EVAL_ARGS ?=
eval: $(STAMP)
	$(BIN)/humpback eval --warehouse $(WAREHOUSE) --prompts $(or $(PROMPTS),../shared/data/eval/vicuna_bench_question.jsonl) \
		$(if $(A),--model-a $(A)) $(if $(B),--model-b $(B),--seed-b 1) $(if $(JUDGE),--judge $(JUDGE)) $(EVAL_ARGS)

# The report test renders the page in a real headless browser: Debian's Chromium, driven by Playwright.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null

# The set-up side by side where steps are independent: Chromium installs while the environment builds;
# then llama-server compiles (CPU-bound) while PyTorch installs (mostly disk and network). The slowest
# tests' times close the run, to see where CI's time goes.
test:
	$(MAKE) --no-print-directory -j2 --output-sync=target $(STAMP) $(CHROMIUM)
	$(MAKE) --no-print-directory -j3 --output-sync=target install-training $(SAMPLE_WARC) llama-server
	$(BIN)/python -m pytest -q --durations=25

# Everyday: every test but those pyproject.toml's markers call heavy (the real model, a server, Ray,
# training, the browser, a long run); no PyTorch, Chromium or llama-server needed.
FAST := not (model or server or ray or train or browser or slow)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m '$(FAST)' tests

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP) $(TRAIN_STAMP)
	$(BIN)/python -m benchmarks.etl_vs_datatrove
	$(BIN)/python -m benchmarks.etl_fidelity
	$(BIN)/python -m benchmarks.dedup_recall
	$(BIN)/python -m benchmarks.curate_vs_distilabel
	$(BIN)/python -m benchmarks.views_vs_polars
	$(BIN)/python -m benchmarks.views_compaction
	$(BIN)/python -m benchmarks.etl_ray_scaling
	$(BIN)/python -m benchmarks.novelty_filter
	$(BIN)/python -m benchmarks.sampler_vs_llama_cpp
	$(MAKE) --no-print-directory llama-server
	$(BIN)/python -m benchmarks.served_vs_in_process
	$(BIN)/python -m benchmarks.curation_quality
	$(BIN)/python -m benchmarks.augmentation_quality
	$(BIN)/python -m benchmarks.likelihood_vs_curation
	$(BIN)/python -m benchmarks.data_value --out $(DATA_VALUE_DIR) --budget $(DATA_VALUE_BUDGET)

bench-training: $(TRAIN_STAMP)
	$(BIN)/python -m benchmarks.training_lora_vs_full
	$(BIN)/python -m benchmarks.training_throughput

clean:
	rm -rf $(WAREHOUSE) $(SAMPLE_WARC)
