# ghostproof: `make demo` runs the whole flow on embedded defaults; `make test` runs the suite.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint bench bench-large bench-ipfs bench-node bench-watch bench-attest bench-overhead bench-safety bench-hashing bench-update bench-order bench-batch vectors contracts gas clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): $(VENV)/bin/python pyproject.toml package.json
	$(PIP) install --quiet "torch==2.13.0"
	$(PIP) install --quiet -e ".[dev,prover,torch]"
	npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/ghostproof demo

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: install
	$(PY) scripts/bench.py --sizes 10000,100000

bench-large: install
	$(PY) scripts/bench.py --sizes 10000,100000,1000000

bench-ipfs: install
	$(PY) scripts/bench_ipfs.py --n 100000 --d 256

bench-overhead: install
	$(PY) scripts/bench_overhead.py --projected

bench-attest: install
	$(PY) scripts/bench_attest.py

bench-watch: install
	$(PY) scripts/bench_watch.py --sizes 100000,1000000 --answers 256 --out bench-out/bench_watch.md

bench-node: install
	$(PY) scripts/bench_node.py --n 100000 --duration 10 --clients 1,4,16 --out bench-out/bench_node.md

bench-safety: install
	$(PY) scripts/bench_safety.py --sizes 100000,1000000 --out bench-out/safety.md

bench-update: install
	$(PY) scripts/bench_update.py --n 1000000 --trials 20 --out bench-out/bench_update.md

bench-hashing: install
	$(PY) scripts/bench_hashing.py --n 1000000

bench-order: install
	$(PY) scripts/bench_order.py --sizes 100000,1000000 --out bench-out/bench_order.md

bench-batch: install
	$(PY) scripts/bench_prove_batch.py --sizes 100000,1000000

vectors: install
	$(PY) scripts/make_vectors.py
	$(PY) scripts/make_chain_vectors.py
	$(PY) scripts/make_bls_vectors.py

contracts: install
	$(PY) scripts/compile_contracts.py

gas: install
	$(PY) scripts/gas_report.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
