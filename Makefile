# clankers: the two set-up commands are `make demo` and `make test`; each bootstraps .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-cluster lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: this version is a CPU build already on disk; anything else downloads CUDA.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[train,dev,robots,viz,ray]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/clankers demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Real multi-node Ray clusters (ray start --head + a joining node) in a private network namespace:
# distributed training, evaluation and a sweep across both nodes (minutes; `make test` runs a fast subset).
test-cluster: $(STAMP)
	CLANKERS_TEST_CLUSTER=1 $(BIN)/python -m pytest -q tests/test_distributed_sandbox.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) runs .pytest_cache
