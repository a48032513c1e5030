# slmgraph — two commands do all set-up on a fresh machine:
#   make demo   venv, install (llama-cpp-python built with -DGGML_NATIVE=OFF), pull the default
#               models, run the built-in demo graph on the real 0.5B/1.5B models
#   make test   everything the tests need, then pytest
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.slmgraph-installed

.PHONY: setup demo demo-triage test lint typecheck bench models clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Editable install with every extra the tests use (finetune pins torch's CPU wheel);
# llama-cpp-python from our flag-keyed wheel.
$(STAMP): pyproject.toml scripts/install_llamacpp.sh scripts/install_system_packages.sh | $(PY)
	bash scripts/install_system_packages.sh
	bash scripts/install_llamacpp.sh $(PY)
	$(PIP) install -q -e ".[dev,studio,openai,outlines,peers,embed,crypto,postgres,duckdb,mysql,cluster,finetune,pii,team,operator]"
	$(PIP) install -q --no-deps vanna==0.7.9  # the Vanna peer (its deps: the peers extra)
	$(PY) -m slmgraph.pipeline.finetune --fetch-converter  # llama.cpp's GGUF LoRA converter
	touch $(STAMP)

setup: $(STAMP)

models: setup
	$(VENV)/bin/slmgraph models pull qwen2.5-coder-0.5b-instruct-q4_k_m qwen2.5-coder-1.5b-instruct-q4_k_m

DEMO_DB := .slmgraph/demo.sqlite

# The query-writer on the demo database (a small shop), with the real models.
demo: models
	$(VENV)/bin/slmgraph demo-db $(DEMO_DB)
	$(VENV)/bin/slmgraph ask --db $(DEMO_DB) "How many customers are there?"
	$(VENV)/bin/slmgraph ask --db $(DEMO_DB) "Which city has the most customers?"
	$(VENV)/bin/slmgraph ask --db $(DEMO_DB) "What are the names of the products in the Books category?"

# The support-ticket triage graph (classify, extract, reply) on the real models.
demo-triage: models
	$(VENV)/bin/slmgraph run triage --input '{"ticket": "Hi, I was charged twice for my Pro subscription this month. Please refund one of the payments. - Dana"}'

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check slmgraph tests examples benchmarks
	$(VENV)/bin/ruff format --check slmgraph
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

typecheck: setup
	$(VENV)/bin/mypy

bench: models
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .langgraph_api
