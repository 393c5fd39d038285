# The few commands people type. `make demo` sets everything up and runs the main job against the local
# stand-in; `make test` runs every test. Both work on a fresh machine with the Rust toolchain, Python 3.11 and pip.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Never let the machine's PIP_* settings steer our own installs in surprising ways.
PIPENV := env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_CONFIG_FILE

.PHONY: setup dev system-deps demo test test-rust test-python lint fmt bench clean

$(VENV)/.deps: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PIPENV) $(PY) -m pip install --quiet --upgrade pip
	$(PIPENV) $(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Tools the network-namespace tests need (Debian): nftables for the "security group" rules.
system-deps:
	@command -v nft >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null; }
	@command -v ip >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null; }

# Build the extension (release) into the venv.
dev: $(VENV)/.deps
	$(PIPENV) $(VENV)/bin/maturin develop --release --quiet

setup: system-deps dev

demo: setup
	$(PY) benchmarks/demo.py

test-rust:
	cargo test --quiet

test-python: setup
	$(PY) -m pytest -q

test: test-rust test-python

lint: $(VENV)/.deps
	cargo fmt --check
	cargo clippy --all-targets --features python -- -D warnings
	$(VENV)/bin/ruff check python tests benchmarks
	$(VENV)/bin/ruff format --check python

fmt:
	cargo fmt
	$(VENV)/bin/ruff format python

clean:
	rm -rf $(VENV) target
